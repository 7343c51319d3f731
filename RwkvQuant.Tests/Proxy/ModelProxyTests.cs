using System.Globalization;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Models;
using RwkvQuant.Proxy;
using Xunit.Abstractions;

namespace RwkvQuant.Tests.Proxy;

/// <summary>The coarse-to-fine proxy on the real tiny models' block weights.</summary>
public class ModelProxyTests(ITestOutputHelper output)
{
    private static List<ProxyScore> ScoreBlocks(string file, CoarseToFineProxy proxy)
    {
        RwkvModel model = GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", file));
        return [.. LinearWeights.Of(model).Where(w => w.Block >= 0).Select(w => proxy.Score(w.ToMatrix(model[w.Name])))];
    }

    [FixtureFact]
    public void Every_block_weight_of_the_v7_model_scores_finite_values()
    {
        List<ProxyScore> scores = ScoreBlocks("tiny-rwkv-7v0-834K-FP32.bin", new CoarseToFineProxy());
        Assert.NotEmpty(scores);
        Assert.Contains(scores, s => s.TensorName == "blocks.0.att.w1");
        Assert.DoesNotContain(scores, s => s.TensorName == "head.weight");
        Assert.All(scores, s =>
        {
            Assert.True(double.IsFinite(s.Coarse) && s.Coarse >= 0, $"{s.TensorName} P_c {s.Coarse}");
            Assert.True(double.IsFinite(s.Fine) && s.Fine >= 0, $"{s.TensorName} P_f {s.Fine}");
        });
    }

    [FixtureTheory]
    [InlineData("tiny-rwkv-6v0-1m-FP32.bin")]
    [InlineData("tiny-rwkv-7v0-834K-FP32.bin")]
    public void Distribution_of_the_proxies_and_the_share_sent_to_scalar_quantization(string file)
    {
        foreach (GapMode mode in new[] { GapMode.PaperFp16UniqueGaps, GapMode.Raw })
        {
            List<ProxyScore> scores = ScoreBlocks(file, new CoarseToFineProxy(new CoarseToFineProxyOptions { Mode = mode }));
            Assert.All(scores, s => Assert.True(double.IsFinite(s.Coarse) && double.IsFinite(s.Fine)));
            ProxyThresholds t = ProxyThresholds.PublishedRwkv7;
            List<ProxyScore> scalar = [.. scores.Where(s => t.Choose(s) == QuantizationChoice.Scalar)];
            double byParameters = (double)scalar.Sum(s => s.ParameterCount) / scores.Sum(s => s.ParameterCount);
            ProxyThresholds ninety = ProxyThresholds.ForTargetScalarFraction(scores, 0.9);
            ProxyThresholds ninetyPc = ProxyThresholds.ForTargetScalarFraction(scores, 0.9, fine: double.PositiveInfinity);
            ProxyThresholds scaled = ProxyThresholds.ScaledForTargetScalarFraction(scores, 0.9);
            Assert.InRange(scores.Count(s => scaled.Choose(s) == QuantizationChoice.Scalar), 0.9 * scores.Count - 0.5, 0.9 * scores.Count + 0.5);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{file} {mode}: {scores.Count} matrices; P_c {Summary(scores.Select(s => s.Coarse))}; P_f {Summary(scores.Select(s => s.Fine))}; " +
                $"published τ → SQ {scalar.Count}/{scores.Count} by count, {byParameters:P1} by parameters; " +
                $"90% by count: τ_c = {ninety.Coarse:G4} with τ_f = 30 (reaches {scores.Count(s => ninety.Choose(s) == QuantizationChoice.Scalar)}), " +
                $"τ_c = {ninetyPc.Coarse:G4} with τ_f = ∞; scaled (τ_c, τ_f) = ({scaled.Coarse:G4}, {scaled.Fine:G4})"));
            output.WriteLine($"  SQ under the published thresholds: {string.Join(", ", scalar.Select(s => s.TensorName))}");
        }
    }

    private static string Summary(IEnumerable<double> values)
    {
        double[] sorted = [.. values.Order()];
        double median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
        return string.Create(CultureInfo.InvariantCulture, $"min {sorted[0]:G4} median {median:G4} max {sorted[^1]:G4}");
    }
}
