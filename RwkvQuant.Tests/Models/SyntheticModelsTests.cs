using RwkvQuant.Formats;
using RwkvQuant.Formats.Safetensors;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.Models;

public sealed class SyntheticModelsTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("rwkvquant-synthetic-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void The_released_shapes_have_the_released_parameter_counts()
    {
        // 191,034,624 is the RWKV-7 World 0.1B count (BlinkDL's LoRA widths 64/64/32/128 at C = 768).
        Assert.Equal(191_034_624, SyntheticModels.Find("rwkv7-0.1b").ParameterCount);
        (string Name, double Billions)[] nominal =
        [
            ("rwkv7-0.4b", 0.45), ("rwkv7-1.5b", 1.53), ("rwkv7-2.9b", 2.95),
            ("rwkv6-1.6b", 1.60), ("rwkv6-3b", 3.10), ("rwkv6-7b", 7.64), ("rwkv6-14b", 14.07),
        ];
        foreach ((string name, double billions) in nominal)
        {
            double actual = SyntheticModels.Find(name).ParameterCount / 1e9;
            Assert.True(Math.Abs(actual - billions) < 0.03 * billions, $"{name}: {actual:F3} B parameters, expected about {billions} B");
        }
        SyntheticShape large = SyntheticModels.Find("RWKV7-1.5B");
        Assert.Equal((96, 96, 64, 256), (large.DecayLora, large.LearningRateLora, large.ValueLora, large.GateLora));
        Assert.Equal((128, 64), (SyntheticModels.Find("rwkv6-14b").DecayLora, SyntheticModels.Find("rwkv6-14b").MixLora));
        Assert.Throws<ArgumentException>(() => SyntheticModels.Find("rwkv9-1b"));
    }

    [Theory]
    [InlineData(RwkvVersion.V7)]
    [InlineData(RwkvVersion.V6)]
    public void A_written_model_loads_with_its_config_and_runs_to_finite_logits(RwkvVersion version)
    {
        var shape = new SyntheticShape("small", version, 2, 128, 448, 300);
        string path = Path.Combine(_folder, "small.safetensors");
        SyntheticModels.Write(shape, path, TensorDataType.F16, seed: 3);

        RwkvModel model = RwkvModelFile.Load(path);
        Assert.Equal(SyntheticModels.Config(shape), model.Config);
        Assert.Equal(shape.ParameterCount, model.ParameterCount);
        Assert.Equal(SyntheticModels.Layout(shape).Select(e => e.Name).Order(), model.Tensors.Keys.Order());
        using RwkvNetwork network = RwkvNetwork.Create(model);
        using Tensor tokens = tensor(new long[] { 1, 17, 299, 5 }, [1, 4]);
        using Tensor logits = network.Forward(tokens);
        Assert.Equal(new long[] { 1, 4, 300 }, logits.shape);
        Assert.True(isfinite(logits).all().item<bool>());
        Assert.True(logits.std().item<float>() > 1e-3f, "the logits should depend on the weights");
    }

    [Fact]
    public void The_same_seed_gives_the_same_file_and_another_seed_another()
    {
        var shape = new SyntheticShape("small", RwkvVersion.V7, 1, 64, 256, 50);
        string a = Path.Combine(_folder, "a.safetensors"), b = Path.Combine(_folder, "b.safetensors"), c = Path.Combine(_folder, "c.safetensors");
        SyntheticModels.Write(shape, a, seed: 5);
        SyntheticModels.Write(shape, b, seed: 5);
        SyntheticModels.Write(shape, c, seed: 6);
        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
        Assert.NotEqual(File.ReadAllBytes(a), File.ReadAllBytes(c));

        // The in-memory model holds the same values as the F32 file.
        string f32 = Path.Combine(_folder, "f32.safetensors");
        SyntheticModels.Write(shape, f32, TensorDataType.F32, seed: 5);
        RwkvModel written = RwkvModelFile.Load(f32), made = SyntheticModels.Create(shape, seed: 5);
        foreach (TensorData tensor in made.Tensors.Values)
            Assert.Equal(tensor.ToFloatArray(), written[tensor.Name].ToFloatArray());
    }

    [Fact]
    public void Matrices_have_the_scale_of_their_fan_in()
    {
        RwkvModel model = SyntheticModels.Create(new SyntheticShape("small", RwkvVersion.V7, 1, 256, 1024, 64));
        float[] value = model["blocks.0.ffn.value.weight"].ToFloatArray(); // [256, 1024]: σ = 1/32
        double sigma = Math.Sqrt(value.Average(v => (double)v * v));
        Assert.InRange(sigma, 0.97 / 32, 1.03 / 32);
        Assert.All(model["blocks.0.att.x_r"].ToFloatArray(), v => Assert.InRange(v, 0f, 1f));
    }

    [Fact]
    public void A_cancelled_write_leaves_no_file()
    {
        string path = Path.Combine(_folder, "cancelled.safetensors");
        using var cancellation = new CancellationTokenSource();
        var progress = new SynchronousProgress(p => { if (p.Done == 3) cancellation.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() =>
            SyntheticModels.Write(new SyntheticShape("small", RwkvVersion.V6, 2, 64, 224, 50), path, progress: progress, cancellationToken: cancellation.Token));
        Assert.Empty(Directory.GetFiles(_folder));
    }

    [Fact]
    public void The_streaming_writer_refuses_a_tensor_that_does_not_match_its_entry()
    {
        string path = Path.Combine(_folder, "mismatch.safetensors");
        SafetensorsEntry[] entries = [new("a", TensorDataType.F32, [2]), new("b", TensorDataType.F32, [3])];
        var error = Assert.Throws<InvalidOperationException>(() =>
            SafetensorsWriter.Write(path, entries, i => TensorData.FromFloats(entries[i].Name, [2], [1f, 2f])));
        Assert.Contains("b F32 [3]", error.Message);
        Assert.Empty(Directory.GetFiles(_folder));

        SafetensorsWriter.Write(path, entries, i => TensorData.FromFloats(entries[i].Name, entries[i].Shape, new float[i + 2]));
        Assert.Equal(["a", "b"], SafetensorsReader.Read(path).Tensors.Select(t => t.Name));
    }

    private sealed class SynchronousProgress(Action<(int Done, int Total)> report) : IProgress<(int Done, int Total)>
    {
        public void Report((int Done, int Total) value) => report(value);
    }
}
