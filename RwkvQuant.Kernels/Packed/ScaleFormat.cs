namespace RwkvQuant.Kernels.Packed;

/// <summary>How a packed layout stores its per-group floats (scales, zeros), as 16-bit words.</summary>
public enum ScaleFormat
{
    /// <summary>IEEE 754 half: one word.</summary>
    F16 = 0,

    /// <summary>bfloat16 (the upper half of a float32): one word.</summary>
    BF16 = 1,

    /// <summary>float32: two words, low then high.</summary>
    F32 = 2,
}
