namespace RwkvQuant.Pipeline;

/// <summary>Progress of <see cref="HybridQuantizer.QuantizeAsync"/>: reported when a block's calibration pass starts
/// (<see cref="TensorName"/> null) and after each tensor is quantized.</summary>
/// <param name="Block">The block being processed (0-based).</param>
/// <param name="BlockCount">Number of blocks.</param>
/// <param name="TensorsDone">Tensors quantized so far.</param>
/// <param name="TensorCount">Tensors to quantize in all.</param>
/// <param name="TensorName">The tensor just quantized, or null at the start of a block's calibration pass.</param>
public readonly record struct HybridProgress(int Block, int BlockCount, int TensorsDone, int TensorCount, string? TensorName);
