namespace RwkvQuant.Comparison;

/// <summary>
/// One method's result in a <see cref="QuantizerComparison"/>. Bits per weight are exact (every stored bit) and
/// parameter-weighted: <see cref="BitsPerWeight"/> over the block matrices (<c>StoredBits / Parameters</c>), and
/// <see cref="TotalBitsPerWeight"/> over the block matrices and the element-wise multiplication vectors μ together,
/// the μ counted as the quantized model stores them (codebooks when the method quantizes them, else float32), so
/// every row counts the same tensors the same way. The relative error is the mean
/// over those tensors of tr((W−Q)H(W−Q)ᵀ) / tr(W H Wᵀ). Tensors the method cannot take (e.g. a ggml format on a column
/// count that is not a multiple of 32) stay in float32, are named in <see cref="Skipped"/> and counted in neither.
/// <see cref="BitsPerByte"/> and <see cref="KlDivergence"/> (mean KL(float32 ‖ quantized) of the next-token
/// distributions, nats per token) are measured on the evaluation documents when there are any.
/// </summary>
public sealed record ComparisonRow(
    string Method,
    int TensorCount,
    long Parameters,
    long StoredBits,
    double MeanRelativeError,
    double MaxRelativeError,
    double? BitsPerByte,
    double? KlDivergence,
    IReadOnlyList<string> Skipped,
    IReadOnlyList<string> Notes,
    TimeSpan QuantizeTime,
    long VectorParameters = 0,
    long VectorStoredBits = 0)
{
    /// <summary>Stored bits over the block matrices.</summary>
    public double BitsPerWeight => Parameters == 0 ? double.NaN : (double)StoredBits / Parameters;

    /// <summary>Stored bits over the block matrices and the multiplication vectors together.</summary>
    public double TotalBitsPerWeight => Parameters + VectorParameters == 0 ? double.NaN : (double)(StoredBits + VectorStoredBits) / (Parameters + VectorParameters);
}
