namespace RwkvQuant.Kernels.Packed;

/// <summary>How a <see cref="PackedVectorCodes"/> holds its codebooks.</summary>
public enum CodebookFormat
{
    /// <summary>int8 values and one FP16 scale per codebook: value = scale · int8.</summary>
    Int8Scaled = 0,

    /// <summary>FP16 values.</summary>
    F16 = 1,

    /// <summary>float32 values (codebooks rebuilt from SVD factors).</summary>
    F32 = 2,
}
