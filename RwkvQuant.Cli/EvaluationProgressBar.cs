using RwkvQuant.Evaluation;
using Spectre.Console;

namespace RwkvQuant.Cli;

/// <summary>A progress bar over scored tokens for an evaluation (bits per byte, KL divergence) on an interactive
/// console; plain lines (<see cref="PlainProgress"/>) on one that is not a terminal.</summary>
internal static class EvaluationProgressBar
{
    public static T Run<T>(IAnsiConsole console, string description, Func<IProgress<EvaluationProgress>?, T> evaluate)
    {
        if (CliContext.IsQuiet)
            return evaluate(null);
        if (!console.Profile.Capabilities.Interactive)
        {
            var plain = new PlainProgress(console);
            return evaluate(new SynchronousProgress<EvaluationProgress>(p => plain.Count(description, p.TokensDone, p.TokenCount, "tokens")));
        }
        return console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(progressContext =>
            {
                ProgressTask task = progressContext.AddTask(Markup.Escape(description));
                return evaluate(new SynchronousProgress<EvaluationProgress>(p =>
                {
                    task.MaxValue = Math.Max(1, p.TokenCount);
                    task.Value = p.TokensDone;
                }));
            });
    }
}
