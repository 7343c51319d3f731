using MathNet.Numerics.Statistics;
using RwkvQuant.Formats;
using RwkvQuant.Scalar;

namespace RwkvQuant.Proxy;

/// <summary>
/// An ablation proxy: one <see cref="WeightStatistic"/> of all weights of the matrix, computed in double, reported in
/// <see cref="ProxyScore.Coarse"/> (<see cref="ProxyScore.Fine"/> = 0). Threshold it with τ_f = +∞, e.g.
/// <see cref="ProxyThresholds.ForTargetScalarFraction"/> with <c>fine: double.PositiveInfinity</c>.
/// </summary>
public sealed class StatisticProxy : IProxy
{
    /// <summary>Creates the proxy for <paramref name="statistic"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not a defined statistic.</exception>
    public StatisticProxy(WeightStatistic statistic) =>
        Statistic = Enum.IsDefined(statistic) ? statistic : throw new ArgumentOutOfRangeException(nameof(statistic), statistic, "Unknown statistic.");

    /// <summary>The statistic.</summary>
    public WeightStatistic Statistic { get; }

    /// <inheritdoc />
    public string Name => Statistic switch
    {
        WeightStatistic.Variance => "variance",
        WeightStatistic.Range => "range",
        WeightStatistic.Kurtosis => "kurtosis",
        _ => "crest factor",
    };

    /// <inheritdoc />
    public ProxyScore Score(TensorData weight)
    {
        WeightMatrix w = WeightMatrix.Read(weight);
        return new ProxyScore(w.Name, w.Values.LongLength, Compute(w.Values, Statistic), 0);
    }

    /// <summary>
    /// The statistic of <paramref name="values"/> (at least one, all finite), in double: range and crest factor from the
    /// extremes and the mean square; variance and kurtosis (population moments, m₄/m₂², 3 for a Gaussian) from
    /// MathNet.Numerics' numerically stable running moments. Constant weights have variance and kurtosis 0.
    /// </summary>
    internal static double Compute(ReadOnlySpan<float> values, WeightStatistic statistic)
    {
        var moments = new RunningStatistics();
        double sumSquares = 0, maxAbs = 0;
        foreach (float value in values)
        {
            moments.Push(value);
            sumSquares += (double)value * value;
            maxAbs = Math.Max(maxAbs, Math.Abs((double)value));
        }
        double variance = moments.PopulationVariance;
        return statistic switch
        {
            WeightStatistic.Range => moments.Maximum - moments.Minimum,
            WeightStatistic.CrestFactor => sumSquares > 0 ? maxAbs / Math.Sqrt(sumSquares / values.Length) : 0,
            WeightStatistic.Variance => variance,
            _ => variance > 0 ? moments.PopulationKurtosis + 3 : 0, // MathNet's is the excess kurtosis
        };
    }
}
