using System.Globalization;
using System.Text;
using RwkvQuant.Tests.Training;
using RwkvQuant.Training;

namespace RwkvQuant.Tests.Cli;

public sealed class TrainCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("rwkvquant-train-cli-").FullName;
    private readonly SingleTorchThread _thread = new();

    public void Dispose()
    {
        _thread.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>A reference-pack-like folder: one XML file with 400 members of distinct summaries.</summary>
    private string WriteDocs()
    {
        string docs = Path.Combine(_directory, "docs");
        Directory.CreateDirectory(docs);
        var xml = new StringBuilder("<?xml version=\"1.0\"?><doc><members>");
        for (int i = 0; i < 400; i++)
            xml.Append(CultureInfo.InvariantCulture, $"<member name=\"M:N.T.M{i}\"><summary>Gets the value number {i} of the <see cref=\"T:N.T\" /> class.</summary></member>");
        xml.Append("</members></doc>");
        File.WriteAllText(Path.Combine(docs, "N.xml"), xml.ToString());
        return docs;
    }

    [Fact]
    public async Task Help_has_examples()
    {
        CliAppTests.CliRun run = await CliAppTests.RunAsync("train", "--help");
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("Examples:", run.Output, StringComparison.Ordinal);
        Assert.Contains("--resume", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Trains_writes_the_model_log_and_plot_and_resumes()
    {
        string docs = WriteDocs(), output = Path.Combine(_directory, "run");
        string[] tiny = ["--corpus", docs, "-o", output, "--layers", "1", "--width", "16", "--head-size", "8", "--context", "16", "--batch", "2",
            "--validate-every", "2", "--checkpoint-every", "2"];
        CliAppTests.CliRun first = await CliAppTests.RunAsync(["train", .. tiny, "--steps", "2"]);
        Assert.True(first.ExitCode == 0, first.Error);
        Assert.Contains("validation bits per byte", first.Output, StringComparison.Ordinal);
        byte[] png = File.ReadAllBytes(Path.Combine(output, "validation.png"));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        Assert.True(File.Exists(Path.Combine(output, Rwkv7Trainer.ModelFileName)));

        CliAppTests.CliRun again = await CliAppTests.RunAsync(["train", .. tiny, "--steps", "4"]);
        Assert.Equal(1, again.ExitCode); // a checkpoint is there: --resume is needed
        Assert.Contains("resume", again.Error, StringComparison.Ordinal);

        CliAppTests.CliRun resumed = await CliAppTests.RunAsync(["train", .. tiny, "--steps", "4", "--resume"]);
        Assert.True(resumed.ExitCode == 0, resumed.Error);
        string[] log = File.ReadAllLines(Path.Combine(output, Rwkv7Trainer.LogFileName));
        Assert.StartsWith("4,", log[^1], StringComparison.Ordinal);

        // The run's settings come from its checkpoint: resuming needs only the folder (and the new step count) ...
        CliAppTests.CliRun bare = await CliAppTests.RunAsync("train", "--corpus", docs, "-o", output, "--resume", "--steps", "6");
        Assert.True(bare.ExitCode == 0, bare.Error);
        Assert.StartsWith("6,", File.ReadAllLines(Path.Combine(output, Rwkv7Trainer.LogFileName))[^1], StringComparison.Ordinal);
        Assert.Equal(16, Rwkv7Trainer.ReadCheckpointOptions(output).Width);
        // ... and a setting given that contradicts the checkpoint is refused, not silently used.
        CliAppTests.CliRun wider = await CliAppTests.RunAsync("train", "--corpus", docs, "-o", output, "--resume", "--steps", "8", "--width", "32");
        Assert.Equal(1, wider.ExitCode);
        Assert.Contains("rwkvquant: error:", wider.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_head_size_that_does_not_divide_the_width_is_one_error_line()
    {
        CliAppTests.CliRun run = await CliAppTests.RunAsync("train", "--corpus", WriteDocs(), "-o", Path.Combine(_directory, "bad"), "--width", "16", "--head-size", "5");
        Assert.Equal(1, run.ExitCode);
        string line = Assert.Single(run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("head size 5", line, StringComparison.Ordinal);
    }
}
