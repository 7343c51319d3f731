using System.CommandLine;
using RwkvQuant.Models;
using Spectre.Console;

namespace RwkvQuant.Cli;

/// <summary>What every command shares: the output console, the error writer, the <c>--verbose</c> option, and
/// the wrapper that turns failures into one line on stderr and exit code 1.</summary>
internal sealed class CliContext(IAnsiConsole console, TextWriter error)
{
    public const int Failure = 1;
    public const int Cancelled = 130;

    public IAnsiConsole Console { get; } = console;

    public TextWriter Error { get; } = error;

    public Option<bool> Verbose { get; } = new("--verbose")
    {
        Description = "Show stack traces on errors.",
        Recursive = true,
    };

    /// <summary>Runs a command body on a worker thread; Ctrl+C cancels <paramref name="cancellationToken"/>.</summary>
    public async Task<int> RunAsync(ParseResult parse, Func<CancellationToken, int> body, CancellationToken cancellationToken)
    {
        try
        {
            return await Task.Run(() => body(cancellationToken), cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await Error.WriteLineAsync("rwkvquant: cancelled.").ConfigureAwait(false);
            return Cancelled;
        }
#pragma warning disable CA1031 // the CLI's last line of defence: every failure becomes one line and exit code 1
        catch (Exception exception)
#pragma warning restore CA1031
        {
            string text = parse.GetValue(Verbose) ? exception.ToString() : $"rwkvquant: error: {exception.Message}";
            await Error.WriteLineAsync(text).ConfigureAwait(false);
            return Failure;
        }
    }

    /// <summary>Loads a model file of any supported container (rwkv.cpp .bin, .pth, safetensors).</summary>
    public static RwkvModel LoadModel(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Model file '{path}' does not exist.", path);
        return RwkvModelFile.Load(path);
    }
}
