using System.Text.Json;
using RwkvQuant.Cli.Commands;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;
using RwkvQuant.Tests.Training;

namespace RwkvQuant.Tests.Cli;

/// <summary>The commands without a model argument: the embedded default model and the reference-pack texts.</summary>
public sealed class DefaultModelCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("rwkvquant-cli-default-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [ReferencePackFact]
    public async Task Quantize_without_arguments_writes_the_default_model_in_the_current_folder_and_reports_before_and_after()
    {
        // Test classes run one at a time (AssemblyInfo.cs), so the process-wide current folder can be moved here.
        string previous = Environment.CurrentDirectory;
        CliAppTests.CliRun run;
        try
        {
            Environment.CurrentDirectory = _directory;
            // The no-argument command line plus smaller calibration, evaluation and timing budgets (the same code path).
            run = await CliAppTests.RunAsync("quantize", "--samples", "4", "--sample-tokens", "64", "--eval-bytes", "1500", "--bench-tokens", "4", "--json");
        }
        finally
        {
            Environment.CurrentDirectory = previous;
        }
        Assert.True(run.ExitCode == 0, run.Error);
        string output = Path.Combine(_directory, QuantizeCommand.DefaultOutput);
        Assert.True(File.Exists(output));
        Assert.Equal([output], Directory.GetFiles(_directory)); // no temporary file left behind

        QuantizedModel q = QuantizedModelFile.Load(output);
        Assert.Equal(4, q.Config.LayerCount);
        using JsonDocument json = JsonDocument.Parse(run.Output);
        JsonElement root = json.RootElement;
        Assert.Equal(Path.GetFullPath(output), root.GetProperty("output").GetString());
        Assert.Equal(new FileInfo(output).Length, root.GetProperty("fileBytes").GetInt64());
        Assert.Equal("reference-pack calibration split", root.GetProperty("calibration").GetProperty("file").GetString());
        JsonElement totals = root.GetProperty("totals");
        double quantizedBpw = totals.GetProperty("quantizedBitsPerWeight").GetDouble(), bpw = totals.GetProperty("bitsPerWeight").GetDouble();
        Assert.InRange(quantizedBpw, 2, 5);
        Assert.InRange(bpw, 2, 5);
        Assert.Equal(q.QuantizedBitsPerWeight, quantizedBpw, 12);

        JsonElement evaluation = root.GetProperty("evaluation");
        Assert.StartsWith("reference-pack evaluation split", evaluation.GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.InRange(evaluation.GetProperty("bytes").GetInt64(), 500, 4000);
        double before = evaluation.GetProperty("bitsPerByteBefore").GetDouble(), after = evaluation.GetProperty("bitsPerByteAfter").GetDouble();
        Assert.InRange(before, 0.1, 3); // the trained model
        Assert.True(after >= before - 0.05, $"bits per byte {before} before, {after} after");
        Assert.InRange(evaluation.GetProperty("klDivergence").GetDouble(), 1e-6, 1);

        JsonElement speed = root.GetProperty("speed");
        Assert.True(speed.GetProperty("tokensPerSecondBefore").GetDouble() > 0);
        Assert.True(speed.GetProperty("tokensPerSecondAfter").GetDouble() > 0);
        long bytesBefore = speed.GetProperty("weightBytesPerTokenBefore").GetInt64(), bytesAfter = speed.GetProperty("weightBytesPerTokenAfter").GetInt64();
        Assert.True(bytesAfter * 4 < bytesBefore, $"{bytesAfter} weight bytes per token quantized, {bytesBefore} in float32");
    }

    [Theory]
    [InlineData("info")]
    [InlineData("eval")]
    [InlineData("generate")]
    [InlineData("compare")]
    [InlineData("quantize")]
    [InlineData("bench")]
    public async Task Help_shows_the_model_as_optional_and_the_default_model_example_first(string command)
    {
        CliAppTests.CliRun run = await CliAppTests.RunAsync(command, "--help");
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("[<model>]", run.Output, StringComparison.Ordinal);
        string[] lines = run.Output.Split('\n');
        int examples = Array.FindIndex(lines, l => l.StartsWith("Examples:", StringComparison.Ordinal));
        Assert.True(examples >= 0, run.Output);
        string first = lines[examples + 2].Trim(); // the description line, then the command line
        Assert.StartsWith($"rwkvquant {command}", first, StringComparison.Ordinal);
        Assert.DoesNotMatch(@"\.(bin|rwkvq|pth|safetensors)\b", first);
    }

    [Fact]
    public async Task Info_without_a_model_shows_the_embedded_default_model()
    {
        CliAppTests.CliRun run = await CliAppTests.RunAsync("info", "--json");
        Assert.True(run.ExitCode == 0, run.Error);
        using JsonDocument json = JsonDocument.Parse(run.Output);
        JsonElement config = json.RootElement.GetProperty("config");
        Assert.Equal("V7", config.GetProperty("version").GetString());
        Assert.Equal(4, config.GetProperty("layers").GetInt32());
        Assert.Equal(256, config.GetProperty("width").GetInt32());
        Assert.Equal(256, config.GetProperty("vocabularySize").GetInt32());
        Assert.Contains("embedded", json.RootElement.GetProperty("file").GetString(), StringComparison.Ordinal);
        Assert.All(json.RootElement.GetProperty("tensors").EnumerateArray(),
            t => Assert.Equal("F16", t.GetProperty("stored").GetProperty("type").GetString()));
    }

    [ReferencePackFact]
    public async Task Eval_without_a_model_scores_the_default_model_on_the_evaluation_split()
    {
        CliAppTests.CliRun run = await CliAppTests.RunAsync("eval", "--docs", "0..3", "--json");
        Assert.True(run.ExitCode == 0, run.Error);
        using JsonDocument json = JsonDocument.Parse(run.Output);
        JsonElement root = json.RootElement;
        Assert.Equal("reference-pack evaluation split", root.GetProperty("text").GetString());
        Assert.Equal(4, root.GetProperty("documentCount").GetInt32());
        Assert.Equal("UTF-8", root.GetProperty("encoding").GetString());
        Assert.InRange(root.GetProperty("bitsPerByte").GetDouble(), 0.1, 3);
    }

    [Fact]
    public async Task Generate_without_a_model_continues_the_prompt_with_the_default_model()
    {
        CliAppTests.CliRun run = await CliAppTests.RunAsync("generate", "--prompt", "Gets the ", "--tokens", "24", "--temperature", "0");
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.StartsWith("Gets the ", run.Output, StringComparison.Ordinal);
        Assert.True(run.Output.TrimEnd().Length > "Gets the ".Length + 10, run.Output);
        Assert.Contains("24 generated tokens", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_reference_pack_folder_is_one_line_naming_it_and_exit_code_1()
    {
        string missing = Path.Combine(_directory, "no-such-pack");
        CliAppTests.CliRun run = await CliAppTests.RunAsync("eval", "--corpus", missing);
        Assert.Equal(1, run.ExitCode);
        Assert.Equal($"rwkvquant: error: The reference pack folder '{missing}' does not exist.", run.Error.TrimEnd());
    }

    [Fact]
    public async Task Quantize_with_a_model_file_but_no_calibration_text_says_what_is_missing_and_writes_nothing()
    {
        string previous = Environment.CurrentDirectory;
        CliAppTests.CliRun run;
        try
        {
            Environment.CurrentDirectory = _directory;
            run = await CliAppTests.RunAsync("quantize", "model.bin");
        }
        finally
        {
            Environment.CurrentDirectory = previous;
        }
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("-o is required with a model file", run.Error, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(_directory));
    }
}
