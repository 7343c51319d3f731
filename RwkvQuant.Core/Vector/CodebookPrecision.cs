namespace RwkvQuant.Vector;

/// <summary>How a vector quantizer stores its codebooks.</summary>
public enum CodebookPrecision
{
    /// <summary>
    /// One FP16 scale s per codebook and one int8 value q per centroid coordinate: centroid = s·q, q ∈ [−127, 127],
    /// s = max|c| / 127. Costs 8 bits per coordinate plus 16 bits per codebook.
    /// </summary>
    Int8WithScale,

    /// <summary>Every centroid coordinate as an FP16 value: 16 bits per coordinate.</summary>
    Fp16,
}
