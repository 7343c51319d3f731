using RwkvQuant.Proxy;

namespace RwkvQuant.Tests.Proxy;

/// <summary>The SQ/VQ decision rule and thresholds derived from a target SQ fraction.</summary>
public class ProxyThresholdsTests
{
    private static ProxyScore S(double coarse, double fine, long parameters = 100) => new("w", parameters, coarse, fine);

    private static ProxyScore[] RandomScores(int count, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(i => new ProxyScore($"m{i}", random.Next(1, 50_000),
            0.3 + 2.5 * random.NextDouble(), random.NextDouble() < 0.1 ? 30 + 500 * random.NextDouble() : 30 * random.NextDouble()))];
    }

    [Fact]
    public void Published_values_are_named()
    {
        Assert.Equal(1.54, ProxyThresholds.PublishedRwkv7Coarse);
        Assert.Equal(30, ProxyThresholds.PublishedRwkv7Fine);
        Assert.Equal(new ProxyThresholds(1.54, 30), ProxyThresholds.PublishedRwkv7);
    }

    [Fact]
    public void Scalar_iff_both_proxies_are_below_their_thresholds()
    {
        ProxyThresholds t = ProxyThresholds.PublishedRwkv7;
        Assert.Equal(QuantizationChoice.Scalar, t.Choose(S(1.53, 29.9)));
        Assert.Equal(QuantizationChoice.Vector, t.Choose(S(1.54, 29.9))); // strict
        Assert.Equal(QuantizationChoice.Vector, t.Choose(S(1.53, 30)));
        Assert.Equal(QuantizationChoice.Vector, t.Choose(S(2.0, 1)));
        Assert.Equal(QuantizationChoice.Vector, t.Choose(S(0.1, 1000)));
    }

    [Fact]
    public void Invalid_arguments_are_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ProxyThresholds(double.NaN, 30));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ProxyThresholds(1, double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => ProxyThresholds.PublishedRwkv7 with { Coarse = double.NaN });
        ProxyScore[] scores = [S(1, 1)];
        Assert.Throws<ArgumentOutOfRangeException>(() => ProxyThresholds.ForTargetScalarFraction(scores, 1.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => ProxyThresholds.ForTargetScalarFraction(scores, -0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => ProxyThresholds.ForTargetScalarFraction(scores, double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => ProxyThresholds.ForTargetScalarFraction(scores, 0.5, (ScalarFractionMeasure)5));
        Assert.Throws<ArgumentOutOfRangeException>(() => ProxyThresholds.ForTargetScalarFraction(scores, 0.5, fine: double.NaN));
        Assert.Throws<ArgumentException>(() => ProxyThresholds.ForTargetScalarFraction([], 0.5));
        Assert.Throws<ArgumentException>(() => ProxyThresholds.ForTargetScalarFraction([S(double.NaN, 1)], 0.5));
    }

    [Theory]
    [InlineData(0.9, 1)]
    [InlineData(0.5, 2)]
    [InlineData(0.75, 3)]
    [InlineData(0.33, 4)]
    public void A_target_fraction_by_count_lands_within_one_matrix(double fraction, int seed)
    {
        ProxyScore[] scores = RandomScores(137, seed);
        ProxyThresholds t = ProxyThresholds.ForTargetScalarFraction(scores, fraction, ScalarFractionMeasure.MatrixCount, fine: double.PositiveInfinity);
        int scalar = scores.Count(s => t.Choose(s) == QuantizationChoice.Scalar);
        Assert.InRange(scalar, fraction * 137 - 0.5, fraction * 137 + 0.5);
        Assert.Equal(double.PositiveInfinity, t.Fine);
    }

    [Theory]
    [InlineData(0.8, 5)]
    [InlineData(0.6, 6)]
    public void With_the_published_fine_threshold_kept_the_count_still_lands_when_reachable(double fraction, int seed)
    {
        ProxyScore[] scores = RandomScores(200, seed);
        int eligible = scores.Count(s => s.Fine < 30);
        Assert.True(eligible >= fraction * 200 + 1); // about 90% pass the fine test
        ProxyThresholds t = ProxyThresholds.ForTargetScalarFraction(scores, fraction);
        Assert.Equal(ProxyThresholds.PublishedRwkv7Fine, t.Fine);
        int scalar = scores.Count(s => t.Choose(s) == QuantizationChoice.Scalar);
        Assert.InRange(scalar, fraction * 200 - 0.5, fraction * 200 + 0.5);
        Assert.All(scores.Where(s => s.Fine >= 30), s => Assert.Equal(QuantizationChoice.Vector, t.Choose(s)));
    }

    [Theory]
    [InlineData(0.9, 7)]
    [InlineData(0.4, 8)]
    public void A_target_fraction_by_parameters_lands_within_one_matrix(double fraction, int seed)
    {
        ProxyScore[] scores = RandomScores(150, seed);
        ProxyThresholds t = ProxyThresholds.ForTargetScalarFraction(scores, fraction, ScalarFractionMeasure.ParameterCount);
        double total = scores.Sum(s => s.ParameterCount);
        double scalar = scores.Where(s => t.Choose(s) == QuantizationChoice.Scalar).Sum(s => s.ParameterCount);
        long largest = scores.Max(s => s.ParameterCount);
        Assert.InRange(scalar, fraction * total - largest, fraction * total + largest);
    }

    [Theory]
    [InlineData(0.9, ScalarFractionMeasure.MatrixCount, 9)]
    [InlineData(0.97, ScalarFractionMeasure.MatrixCount, 10)]
    [InlineData(0.5, ScalarFractionMeasure.ParameterCount, 11)]
    public void Scaling_both_thresholds_lands_even_when_the_fine_test_would_block_it(double fraction, ScalarFractionMeasure measure, int seed)
    {
        ProxyScore[] scores = RandomScores(180, seed);
        ProxyThresholds t = ProxyThresholds.ScaledForTargetScalarFraction(scores, fraction, measure);
        Assert.Equal(30 / 1.54, t.Fine / t.Coarse, 1e-9); // both scaled by the same λ
        double Weight(ProxyScore s) => measure == ScalarFractionMeasure.MatrixCount ? 1 : s.ParameterCount;
        double total = scores.Sum(Weight), scalar = scores.Where(s => t.Choose(s) == QuantizationChoice.Scalar).Sum(Weight);
        double slack = measure == ScalarFractionMeasure.MatrixCount ? 0.5 : scores.Max(s => s.ParameterCount);
        Assert.InRange(scalar, fraction * total - slack, fraction * total + slack);
    }

    [Fact]
    public void Scaling_rejects_reference_thresholds_that_cannot_be_scaled()
    {
        ProxyScore[] scores = [S(1, 1)];
        Assert.Throws<ArgumentOutOfRangeException>(() => ProxyThresholds.ScaledForTargetScalarFraction(scores, 0.5, reference: new ProxyThresholds(0, 30)));
        Assert.Throws<ArgumentOutOfRangeException>(() => ProxyThresholds.ScaledForTargetScalarFraction(scores, 0.5, reference: new ProxyThresholds(double.PositiveInfinity, 30)));
        Assert.Throws<ArgumentOutOfRangeException>(() => ProxyThresholds.ScaledForTargetScalarFraction(scores, 0.5, reference: new ProxyThresholds(1, -1)));
        // τ_f⁰ = +∞ ignores P_f: a pure P_c quantile.
        ProxyThresholds t = ProxyThresholds.ScaledForTargetScalarFraction([S(1, 1e9), S(2, 0)], 0.5, reference: new ProxyThresholds(1, double.PositiveInfinity));
        Assert.Equal((1.5, double.PositiveInfinity), (t.Coarse, t.Fine));
    }

    [Fact]
    public void Unreachable_targets_send_all_eligible_matrices_to_scalar_and_zero_sends_none()
    {
        ProxyScore[] scores = [S(1, 1), S(2, 50), S(3, 2), S(0.5, 100)];
        ProxyThresholds all = ProxyThresholds.ForTargetScalarFraction(scores, 1.0);
        Assert.Equal(double.PositiveInfinity, all.Coarse);
        Assert.Equal([QuantizationChoice.Scalar, QuantizationChoice.Vector, QuantizationChoice.Scalar, QuantizationChoice.Vector], scores.Select(all.Choose));
        ProxyThresholds none = ProxyThresholds.ForTargetScalarFraction(scores, 0);
        Assert.All(scores, s => Assert.Equal(QuantizationChoice.Vector, none.Choose(s)));
    }

    [Fact]
    public void The_coarse_threshold_sits_between_neighbouring_scores_and_ties_are_not_split()
    {
        ProxyScore[] scores = [S(1, 0), S(2, 0), S(2, 0), S(3, 0)];
        ProxyThresholds half = ProxyThresholds.ForTargetScalarFraction(scores, 0.5);
        // Cuts are possible after 1, 3 or 4 matrices (the two 2s stay together): 1 and 3 are equally near 2 → the smaller.
        Assert.Equal(1.5, half.Coarse);
        ProxyThresholds most = ProxyThresholds.ForTargetScalarFraction(scores, 0.7);
        Assert.Equal(2.5, most.Coarse);
        double a = 1.0, b = Math.BitIncrement(1.0);
        ProxyThresholds adjacent = ProxyThresholds.ForTargetScalarFraction([S(a, 0), S(b, 0)], 0.5);
        Assert.Equal(QuantizationChoice.Scalar, adjacent.Choose(S(a, 0)));
        Assert.Equal(QuantizationChoice.Vector, adjacent.Choose(S(b, 0)));
    }
}
