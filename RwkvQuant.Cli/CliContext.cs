using System.CommandLine;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;
using Spectre.Console;

namespace RwkvQuant.Cli;

/// <summary>What every command shares: the output console, the error writer, the <c>--verbose</c> and <c>--json</c>
/// options, and the wrapper that turns failures into one line on stderr (and, with <c>--json</c>, a JSON error object
/// on stdout) and exit code 1.</summary>
internal sealed class CliContext(IAnsiConsole console, TextWriter error)
{
    public const int Failure = 1;
    public const int Cancelled = 130;

    private IAnsiConsole? _errorConsole;

    public IAnsiConsole Console { get; } = console;

    public TextWriter Error { get; } = error;

    /// <summary>The examples each command's <c>--help</c> ends with.</summary>
    public HelpExamples Examples { get; } = new();

    public Option<bool> Verbose { get; } = new("--verbose")
    {
        Description = "Show stack traces on errors.",
        Recursive = true,
    };

    /// <summary>On every command: no progress (bars, spinners, plain progress lines); results and errors still print.</summary>
    public Option<bool> Quiet { get; } = new("--quiet", "-q")
    {
        Description = "Print no progress (bars or progress lines), only results and errors.",
        Recursive = true,
    };

    private static readonly AsyncLocal<bool> QuietRun = new();

    /// <summary>Whether the command running on this flow asked for <c>--quiet</c> (an async-local, so commands run
    /// side by side in one process, as the tests do, do not see each other's).</summary>
    public static bool IsQuiet => QuietRun.Value;

    /// <summary>Added to each command that supports it (<see cref="AddJson"/>); not recursive, so commands without
    /// JSON output do not offer it.</summary>
    public Option<bool> Json { get; } = new("--json")
    {
        Description = "Write the result as one JSON object on stdout (camelCase fields, numbers as numbers) for scripts; " +
                      "progress goes to stderr as plain lines; an error is {\"error\": \"...\", ...} on stdout with a non-zero exit code.",
    };

    /// <summary>Plain text lines on stderr, no markup, no live progress: where progress goes when stdout carries JSON.</summary>
    private IAnsiConsole ErrorConsole => _errorConsole ??= CreateErrorConsole(Error);

    public void AddJson(Command command) => command.Add(Json);

    /// <summary>Added to each command that does heavy CPU work (<see cref="AddThreads"/>); applied around the command by
    /// <see cref="RunAsync"/> and put back afterwards.</summary>
    public Option<int?> Threads { get; } = new("--threads", "-t")
    {
        Description = "CPU threads for the work: torch's threads (calibration, the forward pass, training) and the threads each of the " +
                      "engine's matrix products splits its rows over. Default: every processor.",
    };

    public void AddThreads(Command command) => command.Add(Threads);

    /// <summary>Whether this invocation asked for JSON (false for commands without <c>--json</c>).</summary>
    public bool IsJson(ParseResult parse) => parse.CommandResult.Command.Options.Contains(Json) && parse.GetValue(Json);

    /// <summary>The console for progress and informational lines: stdout normally, stderr (plain lines) with <c>--json</c>.</summary>
    public IAnsiConsole ProgressConsole(bool json) => json ? ErrorConsole : Console;

    /// <summary>Writes <paramref name="value"/> as indented camelCase JSON and a newline to stdout, bypassing Spectre (no wrapping, no markup).</summary>
    public void WriteJson<T>(T value)
    {
        TextWriter output = Console.Profile.Out.Writer;
        output.WriteLine(CliJson.Serialize(value));
        output.Flush();
    }

    /// <summary>Runs a command body on a worker thread; Ctrl+C cancels <paramref name="cancellationToken"/>.</summary>
    public async Task<int> RunAsync(ParseResult parse, Func<CancellationToken, int> body, CancellationToken cancellationToken)
    {
        bool json = IsJson(parse);
        try
        {
            int? threads = parse.CommandResult.Command.Options.Contains(Threads) ? parse.GetValue(Threads) : null;
            QuietRun.Value = parse.GetValue(Quiet);
            return await Task.Run(() => WithThreads(threads, () => body(cancellationToken)), cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException exception)
        {
            await Error.WriteLineAsync("rwkvquant: cancelled.").ConfigureAwait(false);
            if (json)
                WriteJson(new CliError("cancelled", exception.GetType().Name, Cancelled));
            return Cancelled;
        }
#pragma warning disable CA1031 // the CLI's last line of defence: every failure becomes one line and exit code 1
        catch (Exception exception)
#pragma warning restore CA1031
        {
            string message = OneLine(exception);
            string text = parse.GetValue(Verbose) ? exception.ToString() : $"rwkvquant: error: {message}";
            await Error.WriteLineAsync(text).ConfigureAwait(false);
            if (json)
                WriteJson(new CliError(message, exception.GetType().Name, Failure));
            return Failure;
        }
    }

    /// <summary>Runs <paramref name="body"/> with <paramref name="threads"/> torch threads and product threads (none given:
    /// as they are), putting both back afterwards.</summary>
    internal static int WithThreads(int? threads, Func<int> body)
    {
        if (threads is not { } count)
            return body();
        if (count < 1)
            throw new ArgumentException($"--threads must be at least 1 (got {count}).");
        int torchBefore = TorchSharp.torch.get_num_threads(), productsBefore = Inference.EngineKernels.Threads;
        TorchSharp.torch.set_num_threads(count);
        Inference.EngineKernels.Threads = count;
        try
        {
            return body();
        }
        finally
        {
            TorchSharp.torch.set_num_threads(torchBefore);
            Inference.EngineKernels.Threads = productsBefore;
        }
    }

    /// <summary>
    /// An exception's message as one line for a user: without .NET's argument suffixes (" (Parameter 'target')",
    /// "Actual value was -1.") and with line breaks joined.
    /// </summary>
    internal static string OneLine(Exception exception)
    {
        string message = exception.Message;
        if (exception is ArgumentException { ParamName: { } name })
        {
            message = message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal);
            if (exception is ArgumentOutOfRangeException { ActualValue: { } actual })
                message = message.Replace($"Actual value was {actual}.", "", StringComparison.Ordinal);
        }
        return string.Join(" ", message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    /// <summary>Loads a model file of any supported container (rwkv.cpp .bin, .pth, safetensors), refusing one whose
    /// weights are not all finite (the message names the first such tensor).</summary>
    public static RwkvModel LoadModel(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Model file '{path}' does not exist.", path);
        RwkvModel model = RwkvModelFile.Load(path);
        if (model.FindNonFinite() is { } bad)
            throw new InvalidDataException($"'{path}': {bad}; a model whose weights are not all finite gives meaningless results (see `rwkvquant info`).");
        return model;
    }

    private static IAnsiConsole CreateErrorConsole(TextWriter error)
    {
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(error),
        });
        console.Profile.Width = 160;
        return console;
    }
}

/// <summary>The JSON object a failed command writes on stdout with <c>--json</c>.</summary>
/// <param name="Error">The message, as the one-line error on stderr shows it.</param>
/// <param name="ErrorType">The exception's type name (e.g. FileNotFoundException, ArgumentException), or ParseError.</param>
/// <param name="ExitCode">The process exit code.</param>
internal sealed record CliError(string Error, string ErrorType, int ExitCode);
