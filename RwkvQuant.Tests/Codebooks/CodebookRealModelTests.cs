using RwkvQuant.Calibration;
using RwkvQuant.Codebooks;
using RwkvQuant.Corpora;
using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Models;
using RwkvQuant.Tokenizers;

namespace RwkvQuant.Tests.Codebooks;

/// <summary>The codebook optimizers on the real v7 fixture's multiplication vectors with real calibration importance.</summary>
public class CodebookRealModelTests
{
    [FixtureFact]
    public void Activation_weighted_codebooks_have_the_lower_output_error_on_the_v7_fixture()
    {
        RwkvModel model = GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin"));
        CalibrationData data = CalibrationData.FromDocuments(
            TextCorpus.Load(Fixtures.Path("text", "lambada_test.jsonl"), DocumentRange.Parse("0..3")), ByteTokenizer.Instance,
            new CalibrationOptions { SampleCount = 8, TokensPerSample = 128 });
        var collector = new ChannelImportanceCollector();
        using (RwkvNetwork network = RwkvNetwork.Create(model))
            collector.Collect(network, data);
        IReadOnlyDictionary<string, double[]> importance = collector.Build();
        Assert.Equal(10 * model.Config.LayerCount, importance.Count); // x_r, x_w, x_k, x_v, x_a, x_g, k_k, k_a, r_k, ffn x_k

        double weighted = 0, unweighted = 0;
        foreach (var (name, s64) in importance)
        {
            float[] s = Array.ConvertAll(s64, v => (float)v);
            TensorData mu = model[name];
            float[] values = mu.ToFloatArray();
            double signal = 0;
            for (int j = 0; j < values.Length; j++)
                signal += (double)s[j] * values[j] * values[j];
            QuantizedMultiplicationVector a = new ActivationWeightedCodebookOptimizer().Quantize(mu, s);
            QuantizedMultiplicationVector b = new UnweightedCodebookOptimizer().Quantize(mu, s);
            Assert.Equal(mu.Shape, a.ToTensorData().Shape);
            Assert.Equal(3 + 80.0 / 64, a.BitsPerWeight); // C is a multiple of 64 here
            weighted += a.WeightedError(values, s) / signal;
            unweighted += b.WeightedError(values, s) / signal;
        }
        Assert.True(weighted < unweighted, $"mean relative weighted error: weighted {weighted / importance.Count} vs unweighted {unweighted / importance.Count}");
    }
}
