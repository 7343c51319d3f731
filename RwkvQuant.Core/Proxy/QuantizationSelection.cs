using RwkvQuant.Quantization;

namespace RwkvQuant.Proxy;

/// <summary>
/// What an <see cref="IQuantizationSelector"/> decided for one weight: the <see cref="Choice"/>, the proxy score behind it
/// when there is one, and the weight already quantized when the selector had to quantize it to decide (the oracle).
/// </summary>
/// <param name="Choice">Scalar or vector quantization.</param>
public sealed record QuantizationSelection(QuantizationChoice Choice)
{
    /// <summary>The proxy's score of the weight, when the decision came from one (reports show it).</summary>
    public ProxyScore? Score { get; init; }

    /// <summary>The weight already quantized the chosen way, when the selector made it; null otherwise.</summary>
    public QuantizedTensor? Tensor { get; init; }

    /// <summary>
    /// The quantizer (an <see cref="IScalarQuantizer"/> or <see cref="IVectorQuantizer"/>) that made <see cref="Tensor"/>:
    /// a pipeline keeps the tensor only when this is the quantizer it would use for the choice, and quantizes again
    /// otherwise.
    /// </summary>
    public object? QuantizedWith { get; init; }
}
