using RwkvQuant.DefaultModel;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;

namespace RwkvQuant.Tests.Cli;

public sealed class ConvertCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("rwkvquant-cli-convert-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>rwkv.cpp's own files, made from the same FP32 file by its converter and quantizer: ours are byte for byte the same.</summary>
    [FixtureTheory]
    [InlineData("tiny-rwkv-7v0-834K", "q5_1", "Q5_1")]
    [InlineData("tiny-rwkv-7v0-834K", "q5_0", "Q5_0")]
    [InlineData("tiny-rwkv-4v0-660K", "q5_1", "Q5_1")]
    [InlineData("tiny-rwkv-7v0-834K", "f16", "FP16")]
    [InlineData("tiny-rwkv-6v0-1m", "f16", "FP16")]
    public async Task Converting_an_rwkvcpp_fp32_file_gives_rwkvcpps_own_file(string model, string type, string suffix)
    {
        string output = Path.Combine(_directory, $"{model}-{suffix}.bin");
        CliAppTests.CliRun run = await CliAppTests.RunAsync("convert", Fixtures.Path("rwkvcpp", $"{model}-FP32.bin"), "-o", output, "--type", type);
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Equal(await File.ReadAllBytesAsync(Fixtures.Path("rwkvcpp", $"{model}-{suffix}.bin")), await File.ReadAllBytesAsync(output));
        Assert.Single(Directory.GetFiles(_directory));                        // the FP32 intermediate is gone
    }

    [FixtureFact]
    public async Task A_pth_written_by_convert_loads_with_the_same_values()
    {
        string source = Fixtures.Path("rwkvcpp", "tiny-rwkv-6v0-1m-FP32.bin"), output = Path.Combine(_directory, "model.pth");
        CliAppTests.CliRun run = await CliAppTests.RunAsync("convert", source, "-o", output);
        Assert.True(run.ExitCode == 0, run.Error);
        RwkvModel expected = RwkvModelFile.Load(source), actual = RwkvModelFile.Load(output);
        Assert.Equal(expected.Config, actual.Config);
        foreach (string name in expected.Tensors.Keys)
            Assert.Equal(expected[name].ToFloatArray(), actual[name].ToFloatArray());
    }

    [Fact]
    public async Task The_default_model_as_fp16_safetensors_keeps_its_tensors()
    {
        string output = Path.Combine(_directory, "default.safetensors");
        CliAppTests.CliRun run = await CliAppTests.RunAsync("convert", "-o", output, "--type", "f16", "--json");
        Assert.True(run.ExitCode == 0, run.Error);
        using var json = System.Text.Json.JsonDocument.Parse(run.Output);
        Assert.Equal(new FileInfo(output).Length, json.RootElement.GetProperty("bytes").GetInt64());
        RwkvModel expected = EmbeddedModel.Load(), actual = RwkvModelFile.Load(output);
        Assert.Equal(expected.Config, actual.Config);
        Assert.Equal(expected.Tensors.Keys.Order(), actual.Tensors.Keys.Order());
        Assert.Equal(expected["blocks.0.att.key.weight"].ToFloatArray(), actual["blocks.0.att.key.weight"].ToFloatArray()); // stored in FP16 already
    }

    [Theory]
    [InlineData("model.gguf", "f32", "the extension '.gguf' names no container")]
    [InlineData("model.pth", "f16", "--type f16 cannot be written to .pth; it takes f32.")]
    [InlineData("model.safetensors", "q4_0", "--type q4_0 cannot be written to .safetensors; it takes f32, f16, bf16.")]
    public async Task A_container_and_type_that_do_not_go_together_are_one_error_line_and_no_file(string file, string type, string message)
    {
        CliAppTests.CliRun run = await CliAppTests.RunAsync("convert", "-o", Path.Combine(_directory, file), "--type", type);
        Assert.Equal(1, run.ExitCode);
        string line = Assert.Single(run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(message, line, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(_directory));
    }
}
