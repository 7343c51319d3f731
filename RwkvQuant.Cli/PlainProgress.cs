using System.Diagnostics;
using System.Globalization;
using Spectre.Console;

namespace RwkvQuant.Cli;

/// <summary>
/// Progress of long work as plain lines, for a console that is not a terminal (CI, scripts, nohup, a redirected
/// <c>--json</c> run), where Spectre's live bars and spinners print nothing: each line starts with the time since the
/// work began, e.g. <c>[00:02:41] KL divergence: 40% of 29,368 tokens</c>. Lines are rationed: a new stage, every
/// tenth of a counted task, or a minute without a line.
/// </summary>
internal sealed class PlainProgress(IAnsiConsole console)
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMinutes(1);

    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TimeSpan _lastLine = TimeSpan.MinValue;
    private string? _lastStage;
    private int _lastTenth = -1;

    /// <summary>Reports a status such as "calibrating: sample 3/32"; its stage is the text before the first colon.</summary>
    public void Status(string status)
    {
        ArgumentNullException.ThrowIfNull(status);
        int colon = status.IndexOf(':', StringComparison.Ordinal);
        string stage = colon < 0 ? status : status[..colon];
        if (stage == _lastStage && _clock.Elapsed - _lastLine < Quiet)
            return;
        _lastStage = stage;
        Write(status);
    }

    /// <summary>Reports <paramref name="done"/> of <paramref name="total"/> counted <paramref name="unit"/> of the task
    /// <paramref name="description"/>.</summary>
    public void Count(string description, long done, long total, string unit)
    {
        int tenth = total <= 0 ? 10 : (int)Math.Min(10, 10 * done / total);
        if (description == _lastStage && tenth == _lastTenth && _clock.Elapsed - _lastLine < Quiet)
            return;
        _lastStage = description;
        _lastTenth = tenth;
        Write(string.Create(CultureInfo.InvariantCulture, $"{description}: {10 * tenth}% of {total:N0} {unit}"));
    }

    private void Write(string line)
    {
        if (CliContext.IsQuiet)
            return;
        _lastLine = _clock.Elapsed;
        console.WriteLine($"[{_clock.Elapsed:hh\\:mm\\:ss}] {line}");
    }

    /// <summary>Runs <paramref name="work"/> with a status: a spinner on a terminal, else plain lines.</summary>
    public static T WithStatus<T>(IAnsiConsole console, string initial, Func<Action<string>, T> work)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(work);
        if (CliContext.IsQuiet)
            return work(_ => { });
        if (console.Profile.Capabilities.Interactive)
            return console.Status().Start(Markup.Escape(initial), context => work(status => context.Status(Markup.Escape(status))));
        var plain = new PlainProgress(console);
        plain.Status(initial);
        return work(plain.Status);
    }
}
