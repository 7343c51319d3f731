using System.CommandLine;
using RwkvQuant.Cli.Commands;
using Spectre.Console;

namespace RwkvQuant.Cli;

/// <summary>The <c>rwkvquant</c> command tree. Output goes to the given console, errors to the given writer.</summary>
internal static class CliApp
{
    public static RootCommand Build(CliContext context)
    {
        var root = new RootCommand("RwkvQuant: inspect, evaluate, quantize and run RWKV language models.")
        {
            context.Verbose,
        };
        root.Add(InfoCommand.Create(context));
        root.Add(EvalCommand.Create(context));
        root.Add(GenerateCommand.Create(context));
        root.Add(CompareCommand.Create(context));
        root.Add(QuantizeCommand.Create(context));
        root.Add(TrainCommand.Create(context));
        root.Add(BenchCommand.Create(context));
        root.Add(SynthCommand.Create(context));
        context.Examples.Add(root,
            new("rwkvquant quantize", "Quantize the embedded default model with RWKVQuant at the paper's settings; bits per weight, bits per byte, KL and speed before and after"),
            new("rwkvquant generate default-rwkv7.rwkvq --prompt \"Gets the\"", "Run the quantized file it wrote"),
            new("rwkvquant info model.bin", "Show a model file's architecture and tensors"),
            new("rwkvquant quantize model.bin --calib text.jsonl -o model.rwkvq", "Quantize a model file at the paper's settings"),
            new("rwkvquant eval model.rwkvq --text text.jsonl --docs 5000..5152", "Measure bits per byte of the quantized model"),
            new("rwkvquant <command> --help", "Options and examples of a command"));
        context.Examples.Install(root);
        return root;
    }

    public static Task<int> RunAsync(string[] args, IAnsiConsole console, TextWriter error, CancellationToken cancellationToken = default)
    {
        var context = new CliContext(console, error);
        ParseResult parse = Build(context).Parse(args);
        if (parse.Errors.Count > 0 && args.Contains(context.Json.Name, StringComparer.Ordinal))
            return Task.FromResult(ReportParseErrors(context, parse));
        var invocation = new InvocationConfiguration
        {
            Output = console.Profile.Out.Writer,
            Error = error,
            // Our actions report their own errors (one line, exit code 1); see CliContext.RunAsync.
            EnableDefaultExceptionHandler = false,
        };
        return parse.InvokeAsync(invocation, cancellationToken);
    }

    /// <summary>With <c>--json</c>, a command line that does not parse is a JSON error too (the messages also go to stderr).</summary>
    private static int ReportParseErrors(CliContext context, ParseResult parse)
    {
        string[] messages = [.. parse.Errors.Select(e => e.Message)];
        foreach (string message in messages)
            context.Error.WriteLine($"rwkvquant: error: {message}");
        context.WriteJson(new CliError(string.Join(" ", messages), "ParseError", CliContext.Failure));
        return CliContext.Failure;
    }
}
