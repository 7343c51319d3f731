using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Scalar.KQuants;

/// <summary>Options of <see cref="KQuantizer"/>: the format, and whether the calibration's importance matrix steers the search.</summary>
public sealed record KQuantizerOptions
{
    /// <summary>Creates options for <paramref name="type"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="type"/> is not a defined <see cref="KQuantType"/>.</exception>
    public KQuantizerOptions(KQuantType type, bool useImportance = false)
    {
        if (!Enum.IsDefined(type))
            throw new ArgumentException($"{type} is not a k-quant format; use Q2_K, Q3_K, Q4_K, IQ4_XS, IQ4_NL or IQ3_S.", nameof(type));
        Type = type;
        UseImportance = useImportance;
    }

    /// <summary>The format.</summary>
    public KQuantType Type { get; }

    /// <summary>
    /// When true, the quantizer needs the layer's Hessian and uses its diagonal as llama.cpp's importance matrix
    /// (mean x_j² over the calibration inputs: H_jj/2, since H = (2/N)·Σ x xᵀ); when false it runs ggml's searches
    /// without one, as <c>llama-quantize</c> without <c>--imatrix</c> does.
    /// </summary>
    public bool UseImportance { get; }
}
