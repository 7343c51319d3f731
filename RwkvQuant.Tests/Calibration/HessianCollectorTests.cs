using RwkvQuant.Calibration;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Models;
using RwkvQuant.Quantization;
using RwkvQuant.Tests.Models;
using RwkvQuant.Tokenizers;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.Calibration;

public class HessianCollectorTests
{
    private static RwkvModel V6() => GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", "tiny-rwkv-6v0-1m-FP32.bin"));

    [FixtureFact]
    public void Hessian_equals_two_over_n_sum_of_outer_products_of_a_tiny_input()
    {
        RwkvModel model = V6();
        using var collector = new HessianCollector(model, ["blocks.0.att.key.weight", "blocks.0.att.time_maa_w2"]);
        INetworkObserver observer = collector;
        int c = model.Config.EmbeddingSize;
        float[] a = Enumerable.Range(0, c).Select(i => (float)Math.Sin(i + 1)).ToArray();
        float[] b = Enumerable.Range(0, c).Select(i => (float)Math.Cos(3 * i) - 0.5f).ToArray();
        using (var scope = NewDisposeScope())
        {
            observer.OnLinearInput("blocks.0.att.key.weight", tensor(a.Concat(b).ToArray(), [1, 2, c]));
            observer.OnLinearInput("blocks.0.att.output.weight", tensor(a, [1, 1, c])); // not asked for: ignored
        }
        Hessian h = collector.Build("blocks.0.att.key.weight");
        Assert.Equal(2, h.SampleCount);
        for (int i = 0; i < c; i++)
            for (int j = 0; j < c; j++)
                Assert.Equal((2.0 / 2) * ((double)a[i] * a[j] + (double)b[i] * b[j]), h[i, j], 1e-6); // float32 products (HessianAccumulator)
        Assert.Throws<ArgumentException>(() => collector.Build("blocks.0.att.output.weight"));
        Assert.Throws<InvalidOperationException>(() => collector.Build("blocks.0.att.time_maa_w2")); // never observed

        // time_maa_w2 [5, D, C] as [C, 5D]: only the 5 diagonal D×D blocks survive.
        int n = checked((int)(model["blocks.0.att.time_maa_w2"].Shape[0] * model["blocks.0.att.time_maa_w2"].Shape[1]));
        int d = n / 5;
        float[] x = Enumerable.Range(0, n).Select(i => (float)Math.Sin(0.7 * i) + 0.1f).ToArray();
        using (var scope = NewDisposeScope())
            observer.OnLinearInput("blocks.0.att.time_maa_w2", tensor(x, [1, 1, n]));
        Hessian stacked = collector.Build("blocks.0.att.time_maa_w2");
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                Assert.Equal(i / d == j / d ? 2.0 * x[i] * x[j] : 0.0, stacked[i, j], 1e-6);
    }

    [FixtureFact]
    public void Collecting_over_the_network_equals_accumulating_the_recorded_inputs()
    {
        RwkvModel model = V6();
        CalibrationData data = CalibrationData.FromDocuments(["The quick brown fox jumps over the lazy dog. " + new string('x', 40)],
            Utf16LeByteTokenizer.Instance, new CalibrationOptions { SampleCount = 3, TokensPerSample = 16, BatchSize = 2 });
        IReadOnlyDictionary<string, Hessian> hessians = HessianCollector.Collect(model, data);
        Assert.Equal(LinearWeights.Of(model).Select(w => w.Name).Order(), hessians.Keys.Order());

        // The same samples in one batch, recorded, accumulated by hand.
        using RwkvNetwork network = RwkvNetwork.Create(model);
        using var observer = new RecordingObserver();
        using var scope = NewDisposeScope();
        network.ForwardObserved(data.Batch(0, 3), null, observer);
        foreach (string name in new[] { "blocks.5.att.gate.weight", "blocks.11.ffn.value.weight", "blocks.2.att.time_decay_w2", "head.weight" })
        {
            Tensor x = observer.LinearInput(name).reshape(-1, hessians[name].Size).to(ScalarType.Float64);
            Tensor expected = x.t().matmul(x) * (2.0 / x.shape[0]);
            Tensor actual = hessians[name].ToTensor();
            Assert.Equal(48, hessians[name].SampleCount);
            // Each batch's xᵀx is a float32 GEMM (HessianAccumulator), so agreement is to float32 rounding.
            Assert.True(actual.allclose(expected, rtol: 1e-5, atol: 1e-6 * expected.abs().max().item<double>()), name);
        }
    }

    [FixtureFact]
    public void A_block_collector_sees_only_its_block_and_names_are_checked()
    {
        RwkvModel model = V6();
        using HessianCollector block = HessianCollector.ForBlock(model, 3);
        Assert.All(block.WeightNames, n => Assert.StartsWith("blocks.3.", n, StringComparison.Ordinal));
        Assert.Equal(12, block.WeightNames.Count); // 5 att projections, 4 LoRA matrices, 3 ffn projections
        Assert.Throws<ArgumentException>(() => new HessianCollector(model, ["blocks.3.att.time_maa_x"]));
        Assert.Throws<ArgumentOutOfRangeException>(() => HessianCollector.ForBlock(model, 12));
    }

    [FixtureFact]
    public void Building_and_releasing_gives_the_same_Hessians_and_ends_the_collector()
    {
        RwkvModel model = V6();
        CalibrationData data = CalibrationData.FromDocuments(["Pack my box with five dozen liquor jugs. " + new string('y', 40)],
            Utf16LeByteTokenizer.Instance, new CalibrationOptions { SampleCount = 2, TokensPerSample = 16, BatchSize = 2 });
        using HessianCollector collector = HessianCollector.ForBlock(model, 1);
        using (RwkvNetwork network = RwkvNetwork.Create(model))
            collector.Collect(network, data);
        IReadOnlyDictionary<string, Hessian> kept = collector.Build();
        IReadOnlyDictionary<string, Hessian> released = collector.BuildAndRelease();
        Assert.Equal(kept.Keys.Order(), released.Keys.Order());
        foreach ((string name, Hessian h) in kept)
            Assert.True(h.Values.SequenceEqual(released[name].Values), name); // bit for bit
        Assert.Throws<ObjectDisposedException>(() => collector.Build());
    }
}
