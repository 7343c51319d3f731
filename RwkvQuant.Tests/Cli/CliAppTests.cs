using RwkvQuant.Cli;
using RwkvQuant.Corpora;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using Spectre.Console;

namespace RwkvQuant.Tests.Cli;

public class CliAppTests
{
    internal sealed record CliRun(int ExitCode, string Output, string Error);

    internal static async Task<CliRun> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(output),
        });
        console.Profile.Width = 200;
        int exitCode = await CliApp.RunAsync(args, console, error);
        return new CliRun(exitCode, output.ToString(), error.ToString());
    }

    [Theory]
    [InlineData("info")]
    [InlineData("eval")]
    [InlineData("generate")]
    [InlineData("compare")]
    [InlineData("quantize")]
    public async Task Help_works_for_each_command(string command)
    {
        CliRun run = await RunAsync(command, "--help");
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("Usage:", run.Output, StringComparison.Ordinal);
        Assert.Contains(command, run.Output, StringComparison.Ordinal);
        Assert.Contains("--verbose", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Root_help_lists_the_commands()
    {
        CliRun run = await RunAsync("--help");
        Assert.Equal(0, run.ExitCode);
        foreach (string command in new[] { "info", "eval", "generate" })
            Assert.Contains(command, run.Output, StringComparison.Ordinal);
        // The model is optional (the embedded default model), and the list says so, its columns aligned.
        Assert.Matches(@"\n  info \[<model>\]( +)Show", run.Output);
        Assert.Matches(@"\n  synth <shape>( +)Write", run.Output);
        int column = run.Output.Split('\n').Where(l => l.StartsWith("  info ", StringComparison.Ordinal) || l.StartsWith("  quantize ", StringComparison.Ordinal))
            .Select(l => l.IndexOf("  ", 3, StringComparison.Ordinal) + l[l.IndexOf("  ", 3, StringComparison.Ordinal)..].TakeWhile(c => c == ' ').Count()).Distinct().Single();
        Assert.True(column > 0);
    }

    [Fact]
    public void Optional_arguments_are_bracketed_in_a_wrapped_command_list()
    {
        var root = new System.CommandLine.RootCommand();
        var info = new System.CommandLine.Command("info");
        info.Arguments.Add(new System.CommandLine.Argument<string?>("model") { Arity = System.CommandLine.ArgumentArity.ZeroOrOne });
        root.Subcommands.Add(info);
        var train = new System.CommandLine.Command("train");
        root.Subcommands.Add(train);
        string help = "Commands:\n  info <model>  Show a model's\n                architecture.\n  train         Train.\n\nMore";
        Assert.Equal("Commands:\n  info [<model>]  Show a model's\n                  architecture.\n  train           Train.\n\nMore",
            HelpExamples.MarkOptionalArguments(help, root));
    }

    [Theory]
    [InlineData(new[] { "quantize", "--bpw", "abc" }, "rwkvquant: error: --bpw: 'abc' is not a number.", "rwkvquant quantize --help")]
    [InlineData(new[] { "bench", "--tokens", "1.5" }, "rwkvquant: error: --tokens: '1.5' is not a whole number.", "rwkvquant bench --help")]
    [InlineData(new[] { "frobnicate" }, "rwkvquant: error: Unrecognized command or argument 'frobnicate'.", "rwkvquant --help")]
    public async Task A_command_line_that_does_not_parse_is_one_error_line_and_a_pointer_to_the_help(string[] args, string error, string help)
    {
        CliRun run = await RunAsync(args);
        Assert.Equal(1, run.ExitCode);
        Assert.Equal("", run.Output);                                         // no help dumped on stdout
        string[] lines = run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal([error, $"rwkvquant: see '{help}'"], lines);
        Assert.DoesNotContain("System.", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bare_command_line_still_shows_the_help()
    {
        CliRun run = await RunAsync();
        Assert.Contains("Usage:", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Exception_messages_lose_dotnets_argument_suffixes()
    {
        Assert.Equal("Threads must be at least 1.",
            CliContext.OneLine(new ArgumentOutOfRangeException("target", -1, "Threads must be at least 1.")));
        Assert.Equal("Bad shape.", CliContext.OneLine(new ArgumentException("Bad shape.", "tensor")));
        Assert.Equal("first line second line", CliContext.OneLine(new InvalidDataException("first line\n  second line")));
    }

    [Theory]
    [InlineData("quantize", "-o")]
    [InlineData("compare", "--plot")]
    [InlineData("compare", "--markdown")]
    public async Task An_output_path_that_cannot_be_written_is_refused_before_any_work(string command, string option)
    {
        string folder = Path.Combine(Path.GetTempPath(), $"rwkvquant-missing-{Guid.NewGuid():N}");
        string path = Path.Combine(folder, "out.file");
        CliRun run = await RunAsync(command, option, path);
        Assert.Equal(1, run.ExitCode);
        Assert.Equal("", run.Output);                                         // nothing loaded, calibrated or measured
        string line = Assert.Single(run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal($"rwkvquant: error: Cannot write '{path}': the folder '{folder}' does not exist", line.TrimEnd());
        Assert.False(Directory.Exists(folder));
    }

    [Fact]
    public async Task A_vocabulary_without_the_world_encoding_is_refused_not_ignored()
    {
        CliRun run = await RunAsync("eval", "--vocab", "rwkv_vocab_v20230424.txt", "--docs", "0..0");
        Assert.Equal(1, run.ExitCode);
        Assert.Equal("rwkvquant: error: --vocab is the World tokenizer's vocabulary, but the encoding is utf8; drop --vocab or pass --encoding world.",
            run.Error.Trim());
    }

    [Fact]
    public async Task A_missing_model_is_one_error_line_and_exit_code_1()
    {
        CliRun run = await RunAsync("info", "does-not-exist.bin");
        Assert.Equal(1, run.ExitCode);
        string line = Assert.Single(run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("rwkvquant: error: Model file", line, StringComparison.Ordinal);
        Assert.Contains("does-not-exist.bin", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verbose_errors_show_the_stack_trace()
    {
        CliRun run = await RunAsync("info", "does-not-exist.bin", "--verbose");
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("System.IO.FileNotFoundException", run.Error, StringComparison.Ordinal);
        Assert.Contains("   at ", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unsupported_model_formats_are_reported()
    {
        string path = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(path, "plain text, not a model");
            CliRun run = await RunAsync("info", path);
            Assert.Equal(1, run.ExitCode);
            Assert.Contains("not a model file this library reads", run.Error, StringComparison.Ordinal);
            Assert.Contains(path, run.Error, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Parse_errors_fail_with_a_message()
    {
        CliRun run = await RunAsync("eval", "model.bin", "--encoding", "latin1", "--text", "x.txt");
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("latin1", run.Error, StringComparison.Ordinal);
    }

    [FixtureFact]
    public async Task Info_shows_the_architecture_and_every_tensor()
    {
        string model = Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP16.bin");
        CliRun run = await RunAsync("info", model);
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains("│ version    │ V7", run.Output, StringComparison.Ordinal);
        Assert.Contains("│ layers     │ 12", run.Output, StringComparison.Ordinal);
        Assert.Contains("│ width      │ 64", run.Output, StringComparison.Ordinal);
        Assert.Contains("│ vocabulary │ 256", run.Output, StringComparison.Ordinal);
        Assert.Contains("│ tensors    │ 399", run.Output, StringComparison.Ordinal);
        // 2-D weights are stored as FP16, 1-D vectors as FP32; v7's packed mixing vectors are shown per tensor.
        Assert.Matches(@"blocks\.11\.att\.key\.weight\s+\[64, 64\]\s+F16 \[64, 64\]\s+4,096", run.Output);
        Assert.Matches(@"blocks\.0\.att\.x_g\s+\[1, 1, 64\]\s+F32 \[6, 1, 64\] in blocks\.0\.att\.x_rwkvag", run.Output);
        Assert.Matches(@"head\.weight\s+\[256, 64\]", run.Output);
    }
}

public class CliModelCommandTests
{
    [FixtureFact]
    public async Task Compare_prints_one_row_per_method_and_writes_markdown()
    {
        string model = Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin");
        string text = Fixtures.Path("text", "lambada_test.jsonl");
        string markdown = Path.Combine(Path.GetTempPath(), $"rwkvquant-compare-{Guid.NewGuid():N}.md");
        try
        {
            CliAppTests.CliRun run = await CliAppTests.RunAsync("compare", model, "--calib", text, "--calib-docs", "0..3", "--eval", text,
                "--eval-docs", "5000..5001", "--samples", "4", "--sample-tokens", "64", "--seed", "7", "--methods", "rtn3,gptq3,q4_0,q3_k-imat",
                "--markdown", markdown);
            Assert.True(run.ExitCode == 0, run.Error);
            foreach (string method in new[] { "float32", "rtn a3 g64", "gptq a3 g64", "ggml q4_0", "ggml q3_k imatrix" })
                Assert.Contains($"| {method} |", run.Output, StringComparison.Ordinal);
            string table = File.ReadAllText(markdown);
            Assert.Contains("| ggml q4_0 | 166 | 782,336 | 4.5000 |", table, StringComparison.Ordinal);
            Assert.Contains("4 × 64 tokens (seed 7)", table, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(markdown);
        }
    }

    [FixtureFact]
    public async Task Compare_refuses_calibration_documents_that_overlap_the_evaluation()
    {
        string model = Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin");
        string text = Fixtures.Path("text", "lambada_test.jsonl");
        CliAppTests.CliRun run = await CliAppTests.RunAsync("compare", model, "--calib", text, "--calib-docs", "0..10", "--eval", text, "--eval-docs", "5..20");
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("overlap", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Compare_rejects_an_unknown_method()
    {
        CliAppTests.CliRun run = await CliAppTests.RunAsync("compare", "model.bin", "--calib", "a.txt", "--eval", "b.txt", "--methods", "rtn3,magic");
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("Unknown method 'magic'", run.Error, StringComparison.Ordinal);
    }

    [FixtureFact]
    public async Task Eval_reports_the_evaluators_figures_for_a_lambada_range()
    {
        string model = Fixtures.Path("rwkvcpp", "tiny-rwkv-6v0-1m-FP32.bin");
        string text = Fixtures.Path("text", "lambada_test.jsonl");
        CliAppTests.CliRun run = await CliAppTests.RunAsync("eval", model, "--text", text, "--encoding", "utf16le", "--docs", "10..12", "--batch", "2");
        Assert.True(run.ExitCode == 0, run.Error);

        using RwkvQuant.Models.RwkvNetwork network = RwkvQuant.Models.RwkvNetwork.Create(RwkvQuant.Models.GgmlModelLoader.Load(model));
        int[][] documents = TextCorpus.Load(text, new DocumentRange(10, 12))
            .Select(RwkvQuant.Tokenizers.Utf16LeByteTokenizer.Instance.Encode).ToArray();
        var expected = RwkvQuant.Evaluation.PerplexityEvaluator.Evaluate(network, documents, RwkvQuant.Tokenizers.Utf16LeByteTokenizer.Instance);
        Assert.Matches($@"documents\s+│\s+3 │", run.Output);
        Assert.Matches($@"tokens scored\s+│\s+{expected.TokenCount:N0} │", run.Output);
        Assert.Matches($@"bits per byte\s+│\s+{expected.BitsPerByte:F4} │", run.Output);
        // Off a terminal (this console is not interactive), progress is plain timestamped lines, ending at 100% ...
        Assert.Matches($@"\[00:\d\d:\d\d\] scoring tokens: 100% of {expected.TokenCount:N0} tokens", run.Output);

        // ... and --quiet leaves the results alone.
        CliAppTests.CliRun quiet = await CliAppTests.RunAsync("eval", model, "--text", text, "--encoding", "utf16le", "--docs", "10..12", "--batch", "2", "--quiet");
        Assert.True(quiet.ExitCode == 0, quiet.Error);
        Assert.DoesNotContain("scoring tokens", quiet.Output, StringComparison.Ordinal);
        Assert.Matches($@"bits per byte\s+│\s+{expected.BitsPerByte:F4} │", quiet.Output);
    }

    [FixtureFact]
    public async Task Greedy_generate_streams_the_prompt_and_its_continuation()
    {
        string model = Fixtures.Path("rwkvcpp", "tiny-rwkv-6v0-1m-FP32.bin");
        CliAppTests.CliRun first = await CliAppTests.RunAsync("generate", model, "--prompt", "The man", "--tokens", "40", "--temperature", "0", "--encoding", "utf16le");
        CliAppTests.CliRun second = await CliAppTests.RunAsync("generate", model, "--prompt", "The man", "--tokens", "40", "--temperature", "0", "--encoding", "utf16le");
        Assert.True(first.ExitCode == 0, first.Error);
        Assert.StartsWith("The man", first.Output, StringComparison.Ordinal);
        Assert.Equal("The man".Length + 20 + Environment.NewLine.Length, first.Output.Length); // 40 UTF-16LE bytes = 20 chars
        Assert.Equal(first.Output, second.Output);
        Assert.Contains("40 generated tokens", first.Error, StringComparison.Ordinal);
    }

    [FixtureFact]
    public async Task World_encoding_on_a_byte_model_is_rejected_clearly()
    {
        string model = Fixtures.Path("rwkvcpp", "tiny-rwkv-6v0-1m-FP32.bin");
        CliAppTests.CliRun run = await CliAppTests.RunAsync("generate", model, "--prompt", "x", "--encoding", "world",
            "--vocab", Fixtures.Path("tokenizers", "rwkv_vocab_v20230424.txt"));
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("65530 tokens but the model's vocabulary is 256", run.Error, StringComparison.Ordinal);
    }
}

/// <summary>A model whose weights hold a NaN or an infinity: <c>info</c> names the first such tensor, the commands that
/// run a model refuse it in one line naming the file and the tensor (issue 16, item 6).</summary>
public class CliNonFiniteModelTests
{
    [FixtureTheory]
    [InlineData(float.NaN, "NaN")]
    [InlineData(float.NegativeInfinity, "-infinity")]
    public async Task A_model_with_a_non_finite_weight_is_named_by_info_and_refused_by_eval_and_generate(float value, string shown)
    {
        RwkvQuant.Models.RwkvModel model = RwkvQuant.Models.GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin"));
        RwkvQuant.Formats.TensorData key = model["blocks.3.att.key.weight"];
        float[] values = key.ToFloatArray();
        values[77] = value;
        var broken = model.WithTensors(new Dictionary<string, RwkvQuant.Formats.TensorData>
        {
            [key.Name] = RwkvQuant.Formats.TensorData.FromFloats(key.Name, key.Shape, values),
        });
        string path = Path.Combine(Path.GetTempPath(), $"rwkvquant-nonfinite-{Guid.NewGuid():N}.safetensors");
        try
        {
            RwkvQuant.ModelFiles.RwkvModelFile.SaveSafetensors(broken, path);
            string expected = $"tensor 'blocks.3.att.key.weight' holds {shown} at index 77";

            CliAppTests.CliRun info = await CliAppTests.RunAsync("info", path);
            Assert.True(info.ExitCode == 0, info.Error);
            Assert.Contains(expected, info.Output.Replace("\n", "", StringComparison.Ordinal).Replace("│", "", StringComparison.Ordinal)
                .Replace("  ", " ", StringComparison.Ordinal), StringComparison.Ordinal);

            foreach (string[] args in new[] { new[] { "eval", path, "--text", Fixtures.Path("text", "lambada_test.jsonl") }, ["generate", path, "--prompt", "Hi", "--tokens", "4"] })
            {
                CliAppTests.CliRun run = await CliAppTests.RunAsync(args);
                Assert.Equal(1, run.ExitCode);
                Assert.Contains(expected, run.Error, StringComparison.Ordinal);
                Assert.Contains(path, run.Error, StringComparison.Ordinal);
                Assert.Single(run.Error.Trim().Split('\n'));
            }
        }
        finally
        {
            File.Delete(path);
        }
    }
}
