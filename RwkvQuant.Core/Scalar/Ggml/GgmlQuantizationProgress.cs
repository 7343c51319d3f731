namespace RwkvQuant.Scalar.Ggml;

/// <summary>Progress of <see cref="GgmlQuantization.QuantizeFile"/>, reported after each record is processed.</summary>
/// <param name="TensorName">The record just processed.</param>
/// <param name="Quantized">True when it was quantized, false when it was copied as stored.</param>
/// <param name="Completed">Records processed so far, this one included.</param>
/// <param name="Total">Records in the file.</param>
public sealed record GgmlQuantizationProgress(string TensorName, bool Quantized, int Completed, int Total);
