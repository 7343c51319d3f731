using RwkvQuant.Formats;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar;
using RwkvQuant.Scalar.Gptq;

namespace RwkvQuant.Tests.Scalar;

/// <summary>The least-squares grid search per group (<see cref="GroupGrid.Search"/>, <see cref="GptqOptions.ClipSearch"/>).</summary>
public class GridSearchTests
{
    [Theory]
    [InlineData(ScalePrecision.F16)]
    [InlineData(ScalePrecision.Int6)]
    public void The_search_never_does_worse_than_the_min_max_fit_and_clips_a_lone_outlier(ScalePrecision precision)
    {
        var random = new Random(5);
        float[] values = [.. Enumerable.Range(0, 32).Select(_ => (float)(0.02 * (random.NextDouble() - 0.5)))];
        values[7] = 0.1f; // one outlier five times the others' range
        const float Step = 1f / 1024; // the outlier's group takes a multiple of about 16
        Func<double, double, GroupGrid> fit = precision == ScalePrecision.Int6
            ? (lo, hi) => Int6Scales.Fit(lo, hi, 3, false, Step)
            : (lo, hi) => GroupGrid.Fit(lo, hi, 3, false, ScalePrecision.F16);
        GroupGrid plain = fit(values.Min(), values.Max());
        GroupGrid searched = GroupGrid.Search(values, 3, fit);
        Assert.True(searched.SquaredError(values, 7) < plain.SquaredError(values, 7));
        Assert.True(searched.Scale < plain.Scale); // a shrunk range: the outlier clips
        // Evenly spread values gain nothing from clipping: the search keeps the plain fit.
        float[] even = [.. Enumerable.Range(0, 32).Select(i => (float)(0.01 * (i - 16) / 16))];
        Assert.True(GroupGrid.Search(even, 3, fit).SquaredError(even, 7) <= fit(even.Min(), even.Max()).SquaredError(even, 7));
    }

    [Fact]
    public void Gptq_with_the_search_stores_the_same_bits_and_lowers_the_hessian_weighted_error_on_average()
    {
        var plain = new GptqQuantizer(new GptqOptions { GroupSize = 32, ScalePrecision = ScalePrecision.Int6, ActOrder = true });
        var searched = new GptqQuantizer(new GptqOptions { GroupSize = 32, ScalePrecision = ScalePrecision.Int6, ActOrder = true, ClipSearch = true });
        double ratio = 0;
        foreach (int seed in new[] { 1, 2, 3, 4 })
        {
            TensorData weight = ScalarTestData.Weight(seed, 48, 256);
            float[] w = weight.ToFloatArray();
            for (int i = 0; i < w.Length; i += 97)
                w[i] *= 6; // heavy tails, as trained weights have
            weight = TensorData.FromFloats(weight.Name, weight.Shape, w);
            Hessian h = ScalarTestData.CorrelatedHessian(seed, 256);
            var a = (GroupScalarTensor)plain.Quantize(weight, h);
            var b = (GroupScalarTensor)searched.Quantize(weight, h);
            Assert.Equal(a.StoredBits, b.StoredBits);
            ratio += h.WeightedError(w, b.Dequantize()) / h.WeightedError(w, a.Dequantize()) / 4;
        }
        Assert.True(ratio < 1, $"mean H-error ratio with/without the search: {ratio}");
        Assert.Contains("clip-search", searched.Name, StringComparison.Ordinal);
    }
}
