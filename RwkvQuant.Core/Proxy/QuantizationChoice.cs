namespace RwkvQuant.Proxy;

/// <summary>How one 2-D weight is quantized: scalar (uniform grid per group, e.g. GPTQ) or vector (codebook, e.g. GPTVQ).</summary>
public enum QuantizationChoice
{
    /// <summary>Scalar quantization (SQ): the weights are spread evenly enough for a uniform grid.</summary>
    Scalar,

    /// <summary>Vector quantization (VQ): the weights are uneven or have outliers, so a fitted codebook serves them better.</summary>
    Vector,
}
