using RwkvQuant.Formats;
using RwkvQuant.Proxy;

namespace RwkvQuant.Tests.Proxy;

/// <summary>The single-statistic ablation proxies on hand-computed inputs.</summary>
public class StatisticProxyTests
{
    private static double Score(WeightStatistic statistic, params float[] values) =>
        new StatisticProxy(statistic).Score(TensorData.FromFloats("w", [2, values.Length / 2], values)).Value;

    // {1, 2, 3, 10}: mean 4, deviations −3, −2, −1, 6 → m2 = 50/4 = 12.5, m4 = 1394/4 = 348.5; Σw² = 114.
    [Theory]
    [InlineData(WeightStatistic.Variance, 12.5)]
    [InlineData(WeightStatistic.Range, 9)]
    [InlineData(WeightStatistic.Kurtosis, 348.5 / 156.25)]
    public void Hand_computed_values(WeightStatistic statistic, double expected) =>
        Assert.Equal(expected, Score(statistic, 1, 2, 3, 10), 1e-12);

    /// <summary>MathNet's running moments against a naive two-pass twin, on an odd count of values far from zero.</summary>
    [Theory]
    [InlineData(WeightStatistic.Variance)]
    [InlineData(WeightStatistic.Kurtosis)]
    public void Moments_equal_a_two_pass_reference(WeightStatistic statistic)
    {
        var random = new Random(11);
        float[] values = [.. Enumerable.Range(0, 2 * 1001).Select(_ => (float)(50 + 0.01 * Math.Tan(Math.PI * (random.NextDouble() - 0.5) * 0.9)))];
        double mean = values.Average(v => (double)v), m2 = values.Average(v => Math.Pow(v - mean, 2)), m4 = values.Average(v => Math.Pow(v - mean, 4));
        double expected = statistic == WeightStatistic.Variance ? m2 : m4 / (m2 * m2);
        Assert.Equal(expected, Score(statistic, values), expected * 1e-9);
    }

    [Fact]
    public void Crest_factor_is_max_abs_over_rms()
    {
        Assert.Equal(10 / Math.Sqrt(114.0 / 4), Score(WeightStatistic.CrestFactor, 1, 2, 3, 10), 1e-12);
        Assert.Equal(12 / Math.Sqrt(158.0 / 4), Score(WeightStatistic.CrestFactor, 1, -12, 3, 2), 1e-12);
    }

    [Fact]
    public void Degenerate_weights_have_defined_values()
    {
        Assert.Equal(0, Score(WeightStatistic.Variance, 2, 2, 2, 2));
        Assert.Equal(0, Score(WeightStatistic.Range, 2, 2, 2, 2));
        Assert.Equal(0, Score(WeightStatistic.Kurtosis, 2, 2, 2, 2));
        Assert.Equal(1, Score(WeightStatistic.CrestFactor, 2, 2, -2, 2));
        Assert.Equal(0, Score(WeightStatistic.CrestFactor, 0, 0, 0, 0));
    }

    [Fact]
    public void A_gaussian_has_kurtosis_three_and_a_uniform_one_point_eight()
    {
        float[] gaussian = Vector.VectorTestData.Gaussian(200_000, 3);
        float[] uniform = CoarseToFineProxyTests.Uniform(200_000, 3, 1);
        Assert.Equal(3.0, Score(WeightStatistic.Kurtosis, gaussian), 0.05);
        Assert.Equal(1.8, Score(WeightStatistic.Kurtosis, uniform), 0.02);
        Assert.Equal(Math.Sqrt(3), Score(WeightStatistic.CrestFactor, uniform), 0.01);
    }

    [Fact]
    public void Scores_carry_the_name_and_size_and_threshold_as_a_single_value()
    {
        var proxy = new StatisticProxy(WeightStatistic.Range);
        Assert.Equal("range", proxy.Name);
        ProxyScore narrow = proxy.Score(TensorData.FromFloats("a", [2, 2], [0, 1, 0, 1]));
        ProxyScore wide = proxy.Score(TensorData.FromFloats("b", [1, 3], [0, 5, 0]));
        Assert.Equal(("a", 4L, 1.0, 0.0), (narrow.TensorName, narrow.ParameterCount, narrow.Coarse, narrow.Fine));
        ProxyThresholds t = ProxyThresholds.ForTargetScalarFraction([narrow, wide], 0.5, fine: double.PositiveInfinity);
        Assert.Equal(QuantizationChoice.Scalar, t.Choose(narrow));
        Assert.Equal(QuantizationChoice.Vector, t.Choose(wide));
        Assert.Equal(QuantizationChoice.Vector, new ThresholdSelector(proxy, t).Choose(TensorData.FromFloats("c", [1, 2], [0, 4])).Choice);
    }

    [Fact]
    public void Unknown_statistic_is_rejected() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new StatisticProxy((WeightStatistic)9));
}
