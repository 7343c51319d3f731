using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;

namespace RwkvQuant.Tests.Cli;

public sealed class QuantizeCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("rwkvquant-cli-quantize-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [FixtureFact]
    public async Task Quantize_writes_a_model_that_eval_runs()
    {
        string model = Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin");
        string text = Fixtures.Path("text", "lambada_test.jsonl");
        string output = Path.Combine(_directory, "out.rwkvq");
        CliAppTests.CliRun run = await CliAppTests.RunAsync("quantize", model, "--calib", text, "--calib-docs", "0..15",
            "--samples", "4", "--sample-tokens", "64", "-o", output);
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Matches(@"blocks\.0\.att\.x_r\s.*mul\. vector.*codebook", run.Output);
        Assert.Matches(@"emb\.weight\s.*other.*kept\s.*f16", run.Output);
        Assert.Contains("scaled for 90% SQ by count", run.Output, StringComparison.Ordinal);
        QuantizedModel q = QuantizedModelFile.Load(output);
        Assert.Contains($"whole model: {q.ParameterCount:N0} parameters, {q.BitsPerWeight.ToString("F4", System.Globalization.CultureInfo.InvariantCulture)} bpw", run.Output, StringComparison.Ordinal);
        Assert.Contains(q.QuantizedTensors, t => t is MultiplicationVectorTensor);

        CliAppTests.CliRun eval = await CliAppTests.RunAsync("eval", output, "--text", text, "--docs", "5000..5001");
        Assert.True(eval.ExitCode == 0, eval.Error);
        Assert.Contains("bits per byte", eval.Output, StringComparison.Ordinal);
    }

    [FixtureFact]
    public async Task Thresholds_and_a_fraction_are_exclusive_and_write_nothing()
    {
        string model = Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin");
        string output = Path.Combine(_directory, "out.rwkvq");
        CliAppTests.CliRun run = await CliAppTests.RunAsync("quantize", model, "--calib", Fixtures.Path("text", "lambada_test.jsonl"),
            "--tau-c", "1.5", "--sq-fraction", "0.5", "-o", output);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("--tau-c and --tau-f go together", run.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(output));
    }

    [FixtureFact]
    public async Task Allocate_needs_a_budget_and_writes_nothing_without_one()
    {
        string model = Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin");
        string output = Path.Combine(_directory, "out.rwkvq");
        CliAppTests.CliRun run = await CliAppTests.RunAsync("quantize", model, "--calib", Fixtures.Path("text", "lambada_test.jsonl"), "--allocate", "-o", output);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("--allocate spends a --bpw budget", run.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(output));
    }
}
