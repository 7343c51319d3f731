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

    /// <summary>
    /// Double quantization in the manner of llama.cpp's k-quants: a 6-bit scale per group, a multiple 1…63 of an FP16
    /// step shared by the row's groups in each super-block of <see cref="Int6Scales.SuperBlockGroups"/> groups, and (when
    /// asymmetric) a 6-bit zero on a fixed grid of 64 points over [0, 2^b − 1]. 12 bits per group plus 16 per super-block:
    /// 3-bit codes in groups of 32 cost 3 + 12/32 + 16/256 = 3.4375 bits per weight (FP16 scale and zero: 4.0).
    /// </summary>
    Int6,
}
