using RwkvQuant.Formats;

namespace RwkvQuant.Proxy;

/// <summary>
/// A cheap statistic of a 2-D weight that predicts whether scalar or vector quantization suits it better (larger =
/// better served by VQ), turned into a decision by <see cref="ProxyThresholds"/>. Implementations are stateless and
/// thread-safe; options are fixed at construction.
/// </summary>
public interface IProxy
{
    /// <summary>A short name for reports, e.g. <c>"coarse-to-fine K4 fp16-unique"</c>.</summary>
    string Name { get; }

    /// <summary>Scores <paramref name="weight"/> <c>[rows, columns]</c>; the result is finite.</summary>
    /// <exception cref="ArgumentException">The weight is not a non-empty 2-D floating-point tensor, or it holds NaN or infinity.</exception>
    ProxyScore Score(TensorData weight);
}
