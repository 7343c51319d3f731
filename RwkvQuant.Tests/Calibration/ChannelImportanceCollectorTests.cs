using RwkvQuant.Calibration;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Models;
using RwkvQuant.Tests.Models;
using RwkvQuant.Tokenizers;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.Calibration;

public class ChannelImportanceCollectorTests
{
    [Theory]
    [InlineData(1, 0.99)]
    [InlineData(7, 0.99)]
    [InlineData(7, 0.5)]
    [InlineData(1001, 0.99)]
    [InlineData(4099, 0.999)]
    [InlineData(333, 1.0)]
    [InlineData(12, 0.0)]
    public void The_partial_selection_quantile_equals_torch_quantile(int n, double q)
    {
        using var scope = NewDisposeScope();
        manual_seed(n);
        Tensor values = randn(3, n, dtype: ScalarType.Float64).abs();
        values[1] = values[0]; // ties
        Tensor expected = values.quantile(tensor(q, ScalarType.Float64), dim: 1, keepdim: true);
        Tensor actual = ChannelImportanceCollector.UpperQuantile(values, q);
        Assert.Equal(expected.shape, actual.shape);
        Assert.Equal(expected.data<double>().ToArray(), actual.data<double>().ToArray());
    }

    [FixtureFact]
    public void Importance_is_the_mean_square_of_the_operand_and_clipping_only_lowers_it()
    {
        RwkvModel model = GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin"));
        CalibrationData data = CalibrationData.FromDocuments(["Hello world, this is calibration text for a tiny model."],
            ByteTokenizer.Instance, new CalibrationOptions { SampleCount = 4, TokensPerSample = 12, BatchSize = 3 });
        using RwkvNetwork network = RwkvNetwork.Create(model);
        string[] names = ["blocks.1.att.x_r", "blocks.2.att.k_a", "blocks.0.ffn.x_k"];

        var plain = new ChannelImportanceCollector(names, clipPercentile: 1);
        plain.Collect(network, data);
        var clipped = new ChannelImportanceCollector(names, clipPercentile: 0.9);
        clipped.Collect(network, data);
        IReadOnlyDictionary<string, double[]> s = plain.Build(), sClipped = clipped.Build();

        using var observer = new RecordingObserver();
        using var scope = NewDisposeScope();
        network.ForwardObserved(data.Batch(0, 4), null, observer);
        Assert.Equal(names.Order(), s.Keys.Order());
        foreach (string name in names)
        {
            Tensor x = observer.Multiply.Single(e => e.Name == name).Operand.to(ScalarType.Float64);
            double[] expected = x.square().mean([0, 1]).data<double>().ToArray();
            Assert.Equal(model.Config.EmbeddingSize, s[name].Length);
            for (int j = 0; j < expected.Length; j++)
            {
                Assert.Equal(expected[j], s[name][j], 1e-9 + 1e-6 * expected[j]);
                Assert.True(sClipped[name][j] <= s[name][j] + 1e-12);
            }
            Assert.True(sClipped[name].Sum() < s[name].Sum(), $"clipping at the 90th percentile changed nothing for {name}");
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => new ChannelImportanceCollector(clipPercentile: 0));
        var unknown = new ChannelImportanceCollector(["blocks.0.att.key.weight"]);
        unknown.Collect(network, data);
        Assert.Throws<InvalidOperationException>(() => unknown.Build());
    }
}
