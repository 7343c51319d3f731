using RwkvQuant.Cli;
using Spectre.Console;

namespace RwkvQuant.Tests.Cli;

public class PlainProgressTests
{
    private static (PlainProgress Progress, StringWriter Output) Create()
    {
        var output = new StringWriter();
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(output),
        });
        return (new PlainProgress(console), output);
    }

    private static string[] Lines(StringWriter output) => output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    [Fact]
    public void A_counted_task_prints_a_line_per_tenth_not_per_report()
    {
        (PlainProgress progress, StringWriter output) = Create();
        for (int done = 0; done <= 1000; done += 7)
            progress.Count("KL divergence", done, 1000, "tokens");
        progress.Count("KL divergence", 1000, 1000, "tokens");
        string[] lines = Lines(output);
        Assert.Equal(11, lines.Length);                                       // 0%, 10%, …, 100%
        Assert.Matches(@"^\[00:00:\d\d\] KL divergence: 0% of 1,000 tokens$", lines[0]);
        Assert.EndsWith("KL divergence: 100% of 1,000 tokens", lines[^1], StringComparison.Ordinal);
    }

    [Fact]
    public void A_status_prints_when_its_stage_changes()
    {
        (PlainProgress progress, StringWriter output) = Create();
        for (int i = 1; i <= 32; i++)
            progress.Status($"calibrating: sample {i}/32");
        progress.Status("quantizing and evaluating gptq3");
        progress.Status("quantizing and evaluating rtn3");
        string[] lines = Lines(output);
        Assert.Equal(3, lines.Length);
        Assert.EndsWith("calibrating: sample 1/32", lines[0], StringComparison.Ordinal);
        Assert.EndsWith("quantizing and evaluating rtn3", lines[2], StringComparison.Ordinal);
    }
}
