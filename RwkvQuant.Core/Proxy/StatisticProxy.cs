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

    /// <summary>The statistic of <paramref name="values"/> (at least one, all finite).</summary>
    internal static double Compute(ReadOnlySpan<float> values, WeightStatistic statistic)
    {
        int n = values.Length;
        double sum = 0, sumSquares = 0, min = double.PositiveInfinity, max = double.NegativeInfinity, maxAbs = 0;
        foreach (float value in values)
        {
            sum += value;
            sumSquares += (double)value * value;
            min = Math.Min(min, value);
            max = Math.Max(max, value);
            maxAbs = Math.Max(maxAbs, Math.Abs((double)value));
        }
        switch (statistic)
        {
            case WeightStatistic.Range:
                return max - min;
            case WeightStatistic.CrestFactor:
                double rms = Math.Sqrt(sumSquares / n);
                return rms > 0 ? maxAbs / rms : 0;
        }
        double mean = sum / n, m2 = 0, m4 = 0;
        foreach (float value in values)
        {
            double c = value - mean, c2 = c * c; // central moments in a second pass: no cancellation
            m2 += c2;
            m4 += c2 * c2;
        }
        m2 /= n;
        m4 /= n;
        if (statistic == WeightStatistic.Variance)
            return m2;
        return m2 > 0 ? m4 / (m2 * m2) : 0;
    }
}
