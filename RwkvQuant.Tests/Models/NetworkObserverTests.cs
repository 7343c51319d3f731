using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.Models;

/// <summary>The observation hook of the forward pass: what calibration sees, and that it changes nothing.</summary>
public class NetworkObserverTests
{
    public static TheoryData<string> Files => new()
    {
        "tiny-rwkv-4v0-660K-FP32.bin", "tiny-rwkv-5v1-730K-FP32.bin", "tiny-rwkv-5v2-730K-FP32.bin",
        "tiny-rwkv-6v0-1m-FP32.bin", "tiny-rwkv-7v0-834K-FP32.bin",
    };

    private static RwkvModel Load(string file) => GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", file));

    [FixtureTheory]
    [MemberData(nameof(Files))]
    public void Every_linear_weight_is_reported_once_with_its_input_shape_and_the_logits_do_not_change(string file)
    {
        RwkvModel model = Load(file);
        using RwkvNetwork network = RwkvNetwork.Create(model);
        using var scope = NewDisposeScope();
        Tensor tokens = tensor(NetworkChecks.Batch, [2, 7]);
        using var observer = new RecordingObserver();

        Tensor plain = network.Forward(tokens);
        Tensor observed = network.ForwardObserved(tokens, null, observer);
        Tensor again = network.Forward(tokens);

        float[] expected = plain.data<float>().ToArray();
        Assert.Equal(expected, observed.data<float>().ToArray()); // bit-identical
        Assert.Equal(expected, again.data<float>().ToArray());
        IReadOnlyList<LinearWeight> catalogue = LinearWeights.Of(model);
        Assert.Equal(catalogue.Select(w => w.Name).Order(), observer.Linear.Select(e => e.Name).Order());
        foreach (LinearWeight weight in catalogue)
            Assert.Equal([2L, 7L, weight.Columns], observer.LinearInput(weight.Name).shape);
        // The head's input really is what the logits are computed from.
        Tensor head = tensor(model["head.weight"].ToFloatArray(), [model.Config.VocabularySize, model.Config.EmbeddingSize]);
        Assert.True(nn.functional.linear(observer.LinearInput("head.weight"), head).allclose(plain, rtol: 0, atol: 1e-5));
        // Every multiplication site names a model vector of width C, once.
        Assert.NotEmpty(observer.Multiply);
        Assert.Equal(observer.Multiply.Count, observer.Multiply.Select(e => e.Name).Distinct().Count());
        foreach ((string name, Tensor operand) in observer.Multiply)
        {
            Assert.Equal(model.Config.EmbeddingSize, model[name].ElementCount);
            Assert.Equal([2L, 7L, model.Config.EmbeddingSize], operand.shape);
        }
    }

    [FixtureFact]
    public void V6_reports_the_mix_vectors_and_lora_inputs_in_their_out_in_form()
    {
        RwkvModel model = Load("tiny-rwkv-6v0-1m-FP32.bin");
        using RwkvNetwork network = RwkvNetwork.Create(model);
        using var scope = NewDisposeScope();
        using var observer = new RecordingObserver();
        network.ForwardObserved(tensor(NetworkChecks.Batch, [2, 7]), null, observer);

        string[] expected = Enumerable.Range(0, model.Config.LayerCount).SelectMany(i => new[]
        {
            $"blocks.{i}.att.time_maa_x", $"blocks.{i}.att.time_maa_w", $"blocks.{i}.att.time_maa_k", $"blocks.{i}.att.time_maa_v",
            $"blocks.{i}.att.time_maa_r", $"blocks.{i}.att.time_maa_g", $"blocks.{i}.ffn.time_maa_k", $"blocks.{i}.ffn.time_maa_r",
        }).ToArray();
        Assert.Equal(expected.Order(), observer.Multiply.Select(e => e.Name).Order());

        Dictionary<string, LinearWeight> weights = LinearWeights.Of(model).ToDictionary(w => w.Name);
        for (int i = 0; i < model.Config.LayerCount; i++)
        {
            string p = $"blocks.{i}.";
            // x·W1 of the canonical [C, 5D] tensor = x·Mᵀ of its [5D, C] matrix form, and the next input is its tanh.
            AssertNextInput(observer, weights, model, p + "att.time_maa_w1", p + "att.time_maa_w2", t => t.tanh());
            AssertNextInput(observer, weights, model, p + "att.time_decay_w1", p + "att.time_decay_w2", t => t.tanh());
            AssertNextInput(observer, weights, model, p + "ffn.key.weight", p + "ffn.value.weight", t => t.relu().square());
        }
    }

    [FixtureFact]
    public void V7_reports_the_mix_vectors_and_lora_inputs_in_their_out_in_form()
    {
        RwkvModel model = Load("tiny-rwkv-7v0-834K-FP32.bin");
        using RwkvNetwork network = RwkvNetwork.Create(model);
        using var scope = NewDisposeScope();
        using var observer = new RecordingObserver();
        network.ForwardObserved(tensor(NetworkChecks.Batch, [2, 7]), null, observer);

        string[] sites = ["att.x_r", "att.x_w", "att.x_k", "att.x_v", "att.x_a", "att.x_g", "att.k_k", "att.k_a", "att.r_k", "ffn.x_k"];
        string[] expected = Enumerable.Range(0, model.Config.LayerCount).SelectMany(i => sites.Select(s => $"blocks.{i}.{s}")).ToArray();
        Assert.Equal(expected.Order(), observer.Multiply.Select(e => e.Name).Order());

        Dictionary<string, LinearWeight> weights = LinearWeights.Of(model).ToDictionary(w => w.Name);
        Assert.DoesNotContain("blocks.0.att.v1", weights.Keys); // block 0 has no value residual
        for (int i = 0; i < model.Config.LayerCount; i++)
        {
            string p = $"blocks.{i}.";
            AssertNextInput(observer, weights, model, p + "att.w1", p + "att.w2", t => t.tanh());
            AssertNextInput(observer, weights, model, p + "att.a1", p + "att.a2", t => t);
            AssertNextInput(observer, weights, model, p + "att.g1", p + "att.g2", t => t.sigmoid());
            if (i > 0)
                AssertNextInput(observer, weights, model, p + "att.v1", p + "att.v2", t => t);
        }
    }

    /// <summary>input(second) = f(input(first) · M_firstᵀ): the first weight's [out, in] form is the right one.</summary>
    private static void AssertNextInput(RecordingObserver observer, Dictionary<string, LinearWeight> weights, RwkvModel model,
        string first, string second, Func<Tensor, Tensor> activation)
    {
        LinearWeight w = weights[first];
        TensorData matrix = w.ToMatrix(model[first]);
        Tensor m = tensor(matrix.ToFloatArray(), [w.Rows, w.Columns]);
        Tensor predicted = activation(nn.functional.linear(observer.LinearInput(first), m));
        Tensor actual = observer.LinearInput(second);
        Assert.True(predicted.allclose(actual, rtol: 1e-4, atol: 1e-5), $"{second}'s input is not f({first}'s input · Mᵀ)");
    }

    [Fact]
    public void Stacked_lora_matrix_puts_slice_s_transposed_in_columns_s_d_and_round_trips()
    {
        // canonical [S=2, D=3, C=4]: value = 100·s + 10·d + c
        var canonical = new float[2 * 3 * 4];
        for (int s = 0; s < 2; s++)
            for (int d = 0; d < 3; d++)
                for (int c = 0; c < 4; c++)
                    canonical[(s * 3 + d) * 4 + c] = 100 * s + 10 * d + c;
        TensorData tensor3 = TensorData.FromFloats("blocks.0.att.time_maa_w2", [2, 3, 4], canonical);
        var weight = new LinearWeight("blocks.0.att.time_maa_w2", 0, LinearLayout.StackedInOut, 4, 6, 2);

        float[] matrix = weight.ToMatrix(tensor3).ToFloatArray();   // [C=4, S·D=6]
        for (int c = 0; c < 4; c++)
            for (int s = 0; s < 2; s++)
                for (int d = 0; d < 3; d++)
                    Assert.Equal(100 * s + 10 * d + c, matrix[c * 6 + s * 3 + d]);
        TensorData back = weight.FromMatrix(matrix, [2, 3, 4]);
        Assert.Equal([2L, 3L, 4L], back.Shape);
        Assert.Equal(canonical, back.ToFloatArray());

        var plain = new LinearWeight("blocks.0.att.w1", 0, LinearLayout.InOut, 4, 6, 1); // canonical [6, 4]
        TensorData lora = TensorData.FromFloats("blocks.0.att.w1", [6, 4], Enumerable.Range(0, 24).Select(v => (float)v).ToArray());
        float[] transposed = plain.ToMatrix(lora).ToFloatArray();
        Assert.Equal(4f, transposed[1]);                              // [0, 1] = canonical [1, 0]
        Assert.Equal(lora.ToFloatArray(), plain.FromMatrix(transposed, [6, 4]).ToFloatArray());
    }
}
