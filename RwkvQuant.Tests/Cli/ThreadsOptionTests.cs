using RwkvQuant.Inference;

namespace RwkvQuant.Tests.Cli;

/// <summary><c>--threads</c> sets torch's threads and the engine's product threads for one command and puts both back.</summary>
[Collection(TorchThreadCount.Name)] // the counts are process-wide
public class ThreadsOptionTests
{
    [FixtureFact]
    public async Task Eval_on_one_thread_gives_the_same_figures_and_puts_the_counts_back()
    {
        int productsBefore = EngineKernels.Threads;
        string model = Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin"), text = Fixtures.Path("text", "lambada_test.jsonl");
        CliAppTests.CliRun all = await CliAppTests.RunAsync("eval", model, "--text", text, "--docs", "10..11");
        CliAppTests.CliRun one = await CliAppTests.RunAsync("eval", model, "--text", text, "--docs", "10..11", "--threads", "1");
        Assert.True(one.ExitCode == 0, one.Error);
        string Table(string output) => string.Join("\n", output.Split('\n').Where(l => l.Contains("bits per byte", StringComparison.Ordinal) ||
            l.Contains("perplexity", StringComparison.Ordinal) || l.Contains("tokens scored", StringComparison.Ordinal)));
        Assert.Contains("bits per byte", Table(one.Output), StringComparison.Ordinal);
        Assert.Equal(Table(all.Output), Table(one.Output));
        Assert.Equal(productsBefore, EngineKernels.Threads);                 // process-wide: put back
    }

    /// <summary>Torch's count is per thread under OpenMP (the command runs on a pool thread), so it is checked where it
    /// is set: during the body both counts are the chosen one, after it both are back.</summary>
    [Fact]
    public void The_counts_are_set_for_the_body_and_put_back_on_its_thread()
    {
        int torchBefore = TorchSharp.torch.get_num_threads(), productsBefore = EngineKernels.Threads;
        int result = RwkvQuant.Cli.CliContext.WithThreads(1, () =>
        {
            Assert.Equal(1, TorchSharp.torch.get_num_threads());
            Assert.Equal(1, EngineKernels.Threads);
            return 7;
        });
        Assert.Equal(7, result);
        Assert.Equal(torchBefore, TorchSharp.torch.get_num_threads());
        Assert.Equal(productsBefore, EngineKernels.Threads);
    }

    [Theory]
    [InlineData("quantize")]
    [InlineData("eval")]
    [InlineData("generate")]
    [InlineData("compare")]
    [InlineData("train")]
    public async Task Every_heavy_command_takes_threads_and_refuses_zero(string command)
    {
        CliAppTests.CliRun help = await CliAppTests.RunAsync(command, "--help");
        Assert.Contains("--threads", help.Output, StringComparison.Ordinal);
        string output = Path.Combine(Path.GetTempPath(), $"rwkvquant-threads-{Guid.NewGuid():N}");
        string[] args = command switch
        {
            "generate" => [command, "--prompt", "x", "--threads", "0"],
            "quantize" or "train" => [command, "-o", output, "--threads", "0"],
            _ => [command, "--threads", "0"],
        };
        CliAppTests.CliRun zero = await CliAppTests.RunAsync(args);
        Assert.Equal(1, zero.ExitCode);
        Assert.Equal("rwkvquant: error: --threads must be at least 1 (got 0).", zero.Error.Trim());
        Assert.False(Path.Exists(output));
    }
}
