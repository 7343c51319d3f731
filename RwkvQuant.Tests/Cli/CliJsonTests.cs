using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;
using RwkvQuant.Cli;
using RwkvQuant.Comparison;
using RwkvQuant.Corpora;
using RwkvQuant.Evaluation;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;
using RwkvQuant.Tests.Training;

namespace RwkvQuant.Tests.Cli;

/// <summary><c>--json</c> on each command, the compare plot and Markdown, and the examples in every command's help.</summary>
[Collection(TorchThreadCount.Name)]
public sealed class CliJsonTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("rwkvquant-cli-json-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>Parses the whole of stdout: anything besides the one JSON object (markup, progress) fails the parse.</summary>
    private static JsonDocument Parse(CliAppTests.CliRun run) => JsonDocument.Parse(run.Output);

    [Theory]
    [InlineData("info")]
    [InlineData("eval")]
    [InlineData("compare")]
    [InlineData("quantize")]
    [InlineData("train")]
    public async Task Help_shows_examples_and_the_json_option(string command)
    {
        CliAppTests.CliRun run = await CliAppTests.RunAsync(command, "--help");
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("Examples:", run.Output, StringComparison.Ordinal);
        Assert.Contains($"rwkvquant {command} ", run.Output, StringComparison.Ordinal);
        Assert.Contains("--json", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Root_help_shows_its_own_examples_and_not_the_commands()
    {
        CliAppTests.CliRun run = await CliAppTests.RunAsync("--help");
        Assert.Equal(0, run.ExitCode);
        Assert.Equal(2, run.Output.Split("Examples:").Length); // one section
        Assert.Contains("rwkvquant <command> --help", run.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("--bpw 3.25", run.Output, StringComparison.Ordinal); // quantize's examples stay in quantize --help
    }

    [Fact]
    public async Task An_error_with_json_is_a_json_object_on_stdout_one_line_on_stderr_and_exit_code_1()
    {
        CliAppTests.CliRun run = await CliAppTests.RunAsync("info", "does-not-exist.bin", "--json");
        Assert.Equal(1, run.ExitCode);
        using JsonDocument json = Parse(run);
        JsonElement root = json.RootElement;
        Assert.Contains("does-not-exist.bin", root.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal("FileNotFoundException", root.GetProperty("errorType").GetString());
        Assert.Equal(1, root.GetProperty("exitCode").GetInt32());
        string line = Assert.Single(run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("rwkvquant: error: Model file", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_parse_error_with_json_is_a_json_object_too()
    {
        CliAppTests.CliRun run = await CliAppTests.RunAsync("eval", "model.bin", "--encoding", "latin1", "--text", "x.txt", "--json");
        Assert.Equal(1, run.ExitCode);
        using JsonDocument json = Parse(run);
        Assert.Equal("ParseError", json.RootElement.GetProperty("errorType").GetString());
        Assert.Contains("latin1", json.RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Contains("latin1", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_command_offers_json()
    {
        var context = new CliContext(Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings { Out = new Spectre.Console.AnsiConsoleOutput(TextWriter.Null) }), TextWriter.Null);
        System.CommandLine.RootCommand root = CliApp.Build(context);
        Assert.NotEmpty(root.Subcommands);
        Assert.All(root.Subcommands, c => Assert.True(c.Options.Any(o => o.Name == "--json"), $"{c.Name} has no --json"));
    }

    [Fact]
    public async Task Generate_json_holds_the_text_the_plain_run_prints()
    {
        string[] args = ["generate", "--prompt", "Gets the", "--tokens", "12", "--temperature", "0"];
        CliAppTests.CliRun plain = await CliAppTests.RunAsync(args);
        CliAppTests.CliRun run = await CliAppTests.RunAsync([.. args, "--json"]);
        Assert.True(run.ExitCode == 0, run.Error);
        using JsonDocument json = Parse(run);
        JsonElement root = json.RootElement;
        Assert.Equal(plain.Output.TrimEnd('\n', '\r'), "Gets the" + root.GetProperty("text").GetString());
        Assert.Equal(12, root.GetProperty("tokens").GetArrayLength());
        Assert.Equal(8, root.GetProperty("promptTokens").GetInt32());
        Assert.Equal("float32 network", root.GetProperty("runner").GetString());
        Assert.True(root.GetProperty("tokensPerSecond").GetDouble() > 0);
    }

    [Fact]
    public async Task Synth_json_describes_the_file_it_wrote()
    {
        string output = Path.Combine(_directory, "s.safetensors");
        CliAppTests.CliRun run = await CliAppTests.RunAsync("synth", "rwkv7-0.1b", "--layers", "1", "--type", "bf16", "-o", output, "--json");
        Assert.True(run.ExitCode == 0, run.Error);
        using JsonDocument json = Parse(run);
        JsonElement root = json.RootElement;
        Assert.Equal(new FileInfo(output).Length, root.GetProperty("fileBytes").GetInt64());
        Assert.Equal(768, root.GetProperty("width").GetInt32());
        Assert.Equal("bf16", root.GetProperty("type").GetString());
        Assert.Equal(2 * root.GetProperty("parameters").GetInt64(), root.GetProperty("fileBytes").GetInt64(), 100_000.0); // 2 bytes a weight and a header
    }

    [FixtureFact]
    public async Task Quantize_into_a_missing_folder_fails_before_calibrating_naming_the_path()
    {
        string output = Path.Combine(_directory, "missing", "out.rwkvq");
        CliAppTests.CliRun run = await CliAppTests.RunAsync("quantize", Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin"),
            "--calib", Fixtures.Path("text", "lambada_test.jsonl"), "--calib-docs", "0..15", "--samples", "4", "--sample-tokens", "64", "-o", output);
        Assert.Equal(1, run.ExitCode);
        Assert.DoesNotContain("block 1/", run.Output + run.Error, StringComparison.Ordinal); // no work was done
        string error = run.Error.TrimEnd().Split('\n')[^1];
        Assert.StartsWith("rwkvquant: error: ", error, StringComparison.Ordinal);
        Assert.Contains($"'{output}'", error, StringComparison.Ordinal); // the path given, not a temporary file
        Assert.Empty(Directory.EnumerateFileSystemEntries(_directory));
    }

    [FixtureFact]
    public async Task Quantize_json_reports_the_totals_of_the_written_file()
    {
        string model = Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin");
        string output = Path.Combine(_directory, "out.rwkvq");
        CliAppTests.CliRun run = await CliAppTests.RunAsync("quantize", model, "--calib", Fixtures.Path("text", "lambada_test.jsonl"),
            "--calib-docs", "0..15", "--samples", "4", "--sample-tokens", "64", "-o", output, "--json");
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains("block 1/12", run.Error, StringComparison.Ordinal); // progress goes to stderr

        using JsonDocument json = Parse(run);
        JsonElement root = json.RootElement;
        QuantizedModel q = QuantizedModelFile.Load(output);
        JsonElement totals = root.GetProperty("totals");
        long storedBits = totals.GetProperty("quantizedStoredBits").GetInt64(), parameters = totals.GetProperty("quantizedParameters").GetInt64();
        Assert.Equal(q.QuantizedStoredBits, storedBits);
        Assert.Equal(q.QuantizedParameterCount, parameters);
        Assert.Equal((double)storedBits / parameters, totals.GetProperty("quantizedBitsPerWeight").GetDouble(), 12);
        Assert.Equal(q.BitsPerWeight, totals.GetProperty("bitsPerWeight").GetDouble(), 12);
        Assert.Equal(q.ParameterCount, totals.GetProperty("parameters").GetInt64());
        Assert.Equal(q.QuantizedTensors.Count, totals.GetProperty("quantizedTensors").GetInt32());
        Assert.Equal(new FileInfo(output).Length, root.GetProperty("fileBytes").GetInt64());
        Assert.Equal(output, root.GetProperty("output").GetString());
        Assert.Equal(0.9, root.GetProperty("scalarFractionTarget").GetDouble());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("bitsPerWeightBudget").ValueKind);

        JsonElement[] tensors = [.. root.GetProperty("tensors").EnumerateArray()];
        Assert.Equal(q.Tensors.Count, tensors.Length);
        foreach (JsonElement t in tensors)
        {
            double expected = (double)t.GetProperty("storedBits").GetInt64() / t.GetProperty("parameters").GetInt64();
            Assert.Equal(expected, t.GetProperty("bitsPerWeight").GetDouble(), 12);
        }
        JsonElement mix = Assert.Single(tensors, t => t.GetProperty("name").GetString() == "blocks.0.att.x_r");
        Assert.Equal("multiplicationVector", mix.GetProperty("kind").GetString());
        Assert.Equal("codebook", mix.GetProperty("method").GetString());
        Assert.Equal(totals.GetProperty("matrices").GetInt32(), tensors.Count(t => t.GetProperty("kind").GetString() == "matrix"));
        Assert.Equal(totals.GetProperty("scalarMatrices").GetInt32(), tensors.Count(t => t.GetProperty("method").GetString() == "scalar"));

        // What it cost, by phase: every phase this run has, in order; wall times adding up to the whole; no sampled
        // peak above the process's true peak.
        JsonElement cost = root.GetProperty("cost");
        JsonElement[] phases = [.. cost.GetProperty("phases").EnumerateArray()];
        Assert.Equal(["load", "planning", "calibration", "hessians", "scalar", "vector", "codebooks", "errorReport", "writing", "other"],
            phases.Select(p => p.GetProperty("phase").GetString()));
        Assert.Equal(cost.GetProperty("wallSeconds").GetDouble(), phases.Sum(p => p.GetProperty("wallSeconds").GetDouble()), 0.05);
        Assert.All(phases, p => Assert.InRange(p.GetProperty("peakMemoryBytes").GetInt64(), 1, cost.GetProperty("peakMemoryBytes").GetInt64()));
        Assert.All(phases, p => Assert.True(p.GetProperty("cpuSeconds").GetDouble() >= 0));
        Assert.True(phases[1].GetProperty("wallSeconds").GetDouble() > 0, "calibration took no time");
    }

    [FixtureFact]
    public async Task Quantize_json_errors_write_nothing()
    {
        string output = Path.Combine(_directory, "out.rwkvq");
        CliAppTests.CliRun run = await CliAppTests.RunAsync("quantize", Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin"),
            "--calib", Fixtures.Path("text", "lambada_test.jsonl"), "--tau-c", "1.5", "-o", output, "--json");
        Assert.Equal(1, run.ExitCode);
        using JsonDocument json = Parse(run);
        Assert.Equal("ArgumentException", json.RootElement.GetProperty("errorType").GetString());
        Assert.Contains("--tau-c and --tau-f go together", json.RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);
        string line = Assert.Single(run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("rwkvquant: error: --tau-c and --tau-f", line, StringComparison.Ordinal);
        Assert.False(File.Exists(output));
    }

    [FixtureFact]
    public async Task Compare_json_rows_match_the_markdown_table_and_the_plot_is_a_png()
    {
        string model = Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin");
        string text = Fixtures.Path("text", "lambada_test.jsonl");
        string markdown = Path.Combine(_directory, "table.md"), plot = Path.Combine(_directory, "table.png");
        CliAppTests.CliRun run = await CliAppTests.RunAsync("compare", model, "--calib", text, "--calib-docs", "0..3", "--eval", text,
            "--eval-docs", "5000..5001", "--samples", "4", "--sample-tokens", "64", "--methods", "rtn3,gptq3,q4_0",
            "--markdown", markdown, "--plot", plot, "--json");
        Assert.True(run.ExitCode == 0, run.Error);

        using JsonDocument json = Parse(run);
        JsonElement root = json.RootElement;
        Assert.Equal("V7", root.GetProperty("version").GetString());
        Assert.Equal(4, root.GetProperty("calibration").GetProperty("samples").GetInt32());
        Assert.Equal("5000..5001", root.GetProperty("evaluation").GetProperty("documents").GetString());
        JsonElement[] rows = [.. root.GetProperty("rows").EnumerateArray()];
        Assert.Equal(["float32", "rtn a3 g64", "gptq a3 g64", "ggml q4_0"], rows.Select(r => r.GetProperty("method").GetString()));
        Assert.Equal(0, rows[0].GetProperty("klDivergence").GetDouble());
        string table = File.ReadAllText(markdown);
        CultureInfo c = CultureInfo.InvariantCulture;
        foreach (JsonElement row in rows)
        {
            long bits = row.GetProperty("storedBits").GetInt64(), parameters = row.GetProperty("parameters").GetInt64();
            double bitsPerWeight = row.GetProperty("bitsPerWeight").GetDouble();
            Assert.Equal((double)bits / parameters, bitsPerWeight, 12);
            string prefix = string.Create(c,
                $"| {row.GetProperty("method").GetString()} | {row.GetProperty("tensors").GetInt32()} | {parameters:N0} | {bitsPerWeight:F4} | ");
            string line = Assert.Single(table.Split('\n'), l => l.StartsWith(prefix, StringComparison.Ordinal));
            Assert.Contains(string.Create(c, $" | {row.GetProperty("bitsPerByte").GetDouble():F4} | "), line, StringComparison.Ordinal);
        }
        Assert.Contains("| ggml q4_0 | 166 | 782,336 | 4.5000 |", table, StringComparison.Ordinal);
        AssertPng(plot, ComparisonPlot.Width, ComparisonPlot.Height);
        Assert.Empty(Directory.GetFiles(_directory, "*.tmp")); // atomic writes leave no temporary behind
    }

    [Fact]
    public void The_comparison_plot_is_a_png_of_the_stated_size_and_replaces_an_old_file()
    {
        ComparisonRow Row(string method, long bits, double bitsPerByte, double kl) =>
            new(method, 10, 1000, bits, kl == 0 ? 0 : 0.01, kl == 0 ? 0 : 0.02, bitsPerByte, kl, [], [], TimeSpan.FromSeconds(1));
        ComparisonRow[] rows = [Row("float32", 32_000, 2.0, 0), Row("rtn a3 g64", 3_500, 2.4, 0.05), Row("gptq a3 g64", 3_500, 2.2, 0.02), Row("ggml q4_0", 4_500, 2.1, 0.004)];
        string path = Path.Combine(_directory, "plot.png");
        File.WriteAllText(path, "old");
        ComparisonPlot.Write(path, rows, "test");
        AssertPng(path, ComparisonPlot.Width, ComparisonPlot.Height);
        Assert.Single(Directory.GetFiles(_directory));
    }

    [FixtureFact]
    public async Task Info_json_describes_the_architecture_and_every_tensor()
    {
        CliAppTests.CliRun run = await CliAppTests.RunAsync("info", Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP16.bin"), "--json");
        Assert.True(run.ExitCode == 0, run.Error);
        using JsonDocument json = Parse(run);
        JsonElement root = json.RootElement, config = root.GetProperty("config");
        Assert.True(root.GetProperty("runnable").GetBoolean());
        Assert.Equal("V7", config.GetProperty("version").GetString());
        Assert.Equal(12, config.GetProperty("layers").GetInt32());
        Assert.Equal(64, config.GetProperty("width").GetInt32());
        Assert.Equal(256, config.GetProperty("vocabularySize").GetInt32());
        Assert.Equal(399, root.GetProperty("tensorCount").GetInt32());
        JsonElement[] tensors = [.. root.GetProperty("tensors").EnumerateArray()];
        Assert.Equal(399, tensors.Length);
        Assert.Equal(root.GetProperty("parameters").GetInt64(), tensors.Sum(t => t.GetProperty("parameters").GetInt64()));
        JsonElement key = Assert.Single(tensors, t => t.GetProperty("name").GetString() == "blocks.11.att.key.weight");
        Assert.Equal([64L, 64L], key.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal("F16", key.GetProperty("stored").GetProperty("type").GetString());
        JsonElement mix = Assert.Single(tensors, t => t.GetProperty("name").GetString() == "blocks.0.att.x_g");
        Assert.Equal("blocks.0.att.x_rwkvag", mix.GetProperty("stored").GetProperty("name").GetString());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("quantized").ValueKind);
    }

    [FixtureFact]
    public async Task Eval_json_reports_the_evaluators_figures()
    {
        string model = Fixtures.Path("rwkvcpp", "tiny-rwkv-6v0-1m-FP32.bin");
        string text = Fixtures.Path("text", "lambada_test.jsonl");
        CliAppTests.CliRun run = await CliAppTests.RunAsync("eval", model, "--text", text, "--encoding", "utf16le", "--docs", "10..12", "--json");
        Assert.True(run.ExitCode == 0, run.Error);

        using RwkvQuant.Models.RwkvNetwork network = RwkvQuant.Models.RwkvNetwork.Create(RwkvQuant.Models.GgmlModelLoader.Load(model));
        int[][] documents = TextCorpus.Load(text, new DocumentRange(10, 12)).Select(RwkvQuant.Tokenizers.Utf16LeByteTokenizer.Instance.Encode).ToArray();
        PerplexityResult expected = PerplexityEvaluator.Evaluate(network, documents, RwkvQuant.Tokenizers.Utf16LeByteTokenizer.Instance);
        using JsonDocument json = Parse(run);
        JsonElement root = json.RootElement;
        Assert.Equal(3, root.GetProperty("documentCount").GetInt32());
        Assert.Equal("10..12", root.GetProperty("documents").GetString());
        Assert.Equal("UTF-16LE", root.GetProperty("encoding").GetString());
        Assert.Equal(expected.TokenCount, root.GetProperty("tokenCount").GetInt64());
        Assert.Equal(expected.ByteCount, root.GetProperty("byteCount").GetInt64());
        Assert.Equal(expected.BitsPerByte, root.GetProperty("bitsPerByte").GetDouble(), 5);
        Assert.Equal(expected.Perplexity, root.GetProperty("perplexity").GetDouble(), 3);
    }

    [Fact]
    public async Task Train_json_reports_the_run_and_sends_progress_to_stderr()
    {
        using var thread = new SingleTorchThread();
        string docs = Path.Combine(_directory, "docs");
        Directory.CreateDirectory(docs);
        var xml = new StringBuilder("<?xml version=\"1.0\"?><doc><members>");
        for (int i = 0; i < 400; i++)
            xml.Append(CultureInfo.InvariantCulture, $"<member name=\"M:N.T.M{i}\"><summary>Gets the value number {i} of the class.</summary></member>");
        xml.Append("</members></doc>");
        File.WriteAllText(Path.Combine(docs, "N.xml"), xml.ToString());
        string output = Path.Combine(_directory, "run");

        CliAppTests.CliRun run = await CliAppTests.RunAsync("train", "--corpus", docs, "-o", output, "--layers", "1", "--width", "16", "--head-size", "8",
            "--context", "16", "--batch", "2", "--validate-every", "2", "--checkpoint-every", "2", "--steps", "2", "--json");
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains("corpus:", run.Error, StringComparison.Ordinal);
        using JsonDocument json = Parse(run);
        JsonElement root = json.RootElement;
        Assert.Equal(2, root.GetProperty("steps").GetInt32());
        Assert.Equal(16, root.GetProperty("width").GetInt32());
        Assert.InRange(root.GetProperty("validationBitsPerByte").GetDouble(), 0.1, 20);
        Assert.True(File.Exists(root.GetProperty("modelPath").GetString()));
        Assert.True(File.Exists(root.GetProperty("plotPath").GetString()));
        Assert.Equal(400, root.GetProperty("corpus").GetProperty("documents").GetInt32());
    }

    private static void AssertPng(string path, int width, int height)
    {
        byte[] png = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        Assert.Equal("IHDR", Encoding.ASCII.GetString(png, 12, 4));
        Assert.Equal(width, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16, 4)));
        Assert.Equal(height, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20, 4)));
    }
}
