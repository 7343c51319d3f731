using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.ModelFiles;

public sealed class RwkvModelFileTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("rwkvquant-modelfile-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [FixtureTheory]
    [InlineData("tiny-rwkv-7v0-834K-FP32.bin")]
    [InlineData("tiny-rwkv-6v0-1m-FP32.bin")]
    public void Safetensors_round_trip_gives_identical_tensors_and_logits(string file)
    {
        RwkvModel original = RwkvModelFile.Load(Fixtures.Path("rwkvcpp", file));
        string path = Path.Combine(_directory, "model.safetensors");
        RwkvModelFile.SaveSafetensors(original, path);

        Assert.Equal(ModelFileFormat.Safetensors, RwkvModelFile.DetectFormat(path));
        RwkvModel reloaded = RwkvModelFile.Load(path);
        Assert.Equal(original.Config, reloaded.Config);
        Assert.Equal(original.Tensors.Keys.Order(), reloaded.Tensors.Keys.Order());
        foreach (TensorData tensor in original.Tensors.Values)
        {
            Assert.Equal(tensor.Shape, reloaded[tensor.Name].Shape);
            Assert.True(tensor.Bytes.SequenceEqual(reloaded[tensor.Name].Bytes), $"{tensor.Name} differs");
        }
        Assert.Equal(Logits(original), Logits(reloaded));
    }

    [FixtureFact]
    public void Fp16_safetensors_keeps_the_fp16_fixture_values_exactly()
    {
        // The FP16 fixture's matrices are FP16 values, so saving as F16 and reloading must not change them.
        RwkvModel original = RwkvModelFile.Load(Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP16.bin"));
        string path = Path.Combine(_directory, "model16.safetensors");
        RwkvModelFile.SaveSafetensors(original, path, TensorDataType.F16);
        RwkvModel reloaded = RwkvModelFile.Load(path);
        float[] expected = original["blocks.0.att.receptance.weight"].ToFloatArray();
        Assert.Equal(expected, reloaded["blocks.0.att.receptance.weight"].ToFloatArray());
    }

    [FixtureFact]
    public void Detects_ggml_files()
    {
        Assert.Equal(ModelFileFormat.Ggml, RwkvModelFile.DetectFormat(Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-Q5_1.bin")));
    }

    [Fact]
    public void Rejects_an_unknown_format_naming_the_file()
    {
        string path = Path.Combine(_directory, "notes.txt");
        File.WriteAllText(path, "hello, this is not a model");
        var error = Assert.Throws<InvalidDataException>(() => RwkvModelFile.Load(path));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Safetensors_without_rwkv_tensors_is_rejected_naming_the_missing_tensor()
    {
        string path = Path.Combine(_directory, "other.safetensors");
        RwkvQuant.Formats.Safetensors.SafetensorsWriter.Write(path, [TensorData.FromFloats("weight", [2], [1f, 2f])]);
        var error = Assert.Throws<InvalidDataException>(() => RwkvModelFile.Load(path));
        Assert.Contains("blocks.0.ln1.weight", error.Message, StringComparison.Ordinal);
    }

    private static float[] Logits(RwkvModel model)
    {
        using RwkvNetwork network = RwkvNetwork.Create(model);
        using var scope = NewDisposeScope();
        return network.Forward(tensor(new long[] { 34, 105, 110 }, [1, 3])).data<float>().ToArray();
    }
}

public sealed class RwkvModelFilePthTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("rwkvquant-pth-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [FixtureFact]
    public void A_model_we_wrote_as_pth_loads_back_identical()
    {
        RwkvModel original = RwkvModelFile.Load(Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin"));
        string path = Path.Combine(_directory, "rwkv7.pth");
        RwkvModelFile.SavePth(original, path);

        Assert.Equal(ModelFileFormat.Pth, RwkvModelFile.DetectFormat(path));
        RwkvModel reloaded = RwkvModelFile.Load(path);
        Assert.Equal(original.Config, reloaded.Config);
        foreach (TensorData tensor in original.Tensors.Values)
            Assert.True(tensor.Bytes.SequenceEqual(reloaded[tensor.Name].Bytes), $"{tensor.Name} differs");
        Assert.Empty(Directory.GetFiles(_directory, "*.tmp"));
    }

    [FixtureFact]
    public void A_rosa_demo_checkpoint_is_refused_with_a_clear_message()
    {
        string path = Fixtures.Path("pth", "260123_reverse_L2.pth");
        var error = Assert.Throws<InvalidDataException>(() => RwkvModelFile.Load(path));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("ROSA", error.Message, StringComparison.Ordinal);
    }
}
