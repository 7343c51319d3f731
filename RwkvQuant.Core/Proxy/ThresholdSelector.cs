using System.Globalization;
using RwkvQuant.Formats;
using RwkvQuant.Quantization;

namespace RwkvQuant.Proxy;

/// <summary>
/// The proxy-guided selector: scores the weight with an <see cref="IProxy"/> and applies <see cref="ProxyThresholds"/>
/// (SQ iff P_c &lt; τ_c and P_f &lt; τ_f). Ignores the Hessian.
/// </summary>
public sealed class ThresholdSelector : IQuantizationSelector
{
    /// <summary>Creates the selector.</summary>
    public ThresholdSelector(IProxy proxy, ProxyThresholds thresholds)
    {
        ArgumentNullException.ThrowIfNull(proxy);
        ArgumentNullException.ThrowIfNull(thresholds);
        Proxy = proxy;
        Thresholds = thresholds;
    }

    /// <summary>The proxy.</summary>
    public IProxy Proxy { get; }

    /// <summary>The thresholds.</summary>
    public ProxyThresholds Thresholds { get; }

    /// <inheritdoc />
    public string Name => $"{Proxy.Name} τ_c={Thresholds.Coarse.ToString("G4", CultureInfo.InvariantCulture)} τ_f={Thresholds.Fine.ToString("G4", CultureInfo.InvariantCulture)}";

    /// <inheritdoc />
    public QuantizationSelection Choose(TensorData weight, Hessian? hessian = null, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ProxyScore score = Proxy.Score(weight);
        return new QuantizationSelection(Thresholds.Choose(score)) { Score = score };
    }
}
