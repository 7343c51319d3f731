using RwkvQuant.Formats;
using RwkvQuant.Quantization;

namespace RwkvQuant.Proxy;

/// <summary>
/// Decides per 2-D weight between scalar and vector quantization. <see cref="ThresholdSelector"/> thresholds an
/// <see cref="IProxy"/> score (the weight alone); <see cref="OracleSelector"/> quantizes both ways and compares the
/// Hessian-weighted errors (needs the quantizers and, for a meaningful answer, the layer's Hessian).
/// Implementations are stateless and thread-safe.
/// </summary>
public interface IQuantizationSelector
{
    /// <summary>A short name for reports.</summary>
    string Name { get; }

    /// <summary>
    /// Chooses the method for <paramref name="weight"/> <c>[rows, columns]</c>, with the proxy score and the already
    /// quantized weight when the selector has them. <paramref name="hessian"/> is the layer's H <c>[columns, columns]</c>;
    /// selectors that do not need it ignore it.
    /// </summary>
    /// <exception cref="ArgumentException">The weight is not a non-empty finite 2-D floating-point tensor, or the Hessian
    /// does not match it.</exception>
    QuantizationSelection Choose(TensorData weight, Hessian? hessian = null, CancellationToken cancellationToken = default);
}
