namespace RwkvQuant.Scalar;

/// <summary>How the per-group scales (and zeros) of a <see cref="GroupScalarTensor"/> are stored.</summary>
public enum ScalePrecision
{
    /// <summary>IEEE 754 half precision, 16 bits (the GPTQ paper's choice).</summary>
    F16,

    /// <summary>bfloat16, 16 bits (the upper half of a float32).</summary>
    BF16,

    /// <summary>IEEE 754 single precision, 32 bits.</summary>
    F32,
}
