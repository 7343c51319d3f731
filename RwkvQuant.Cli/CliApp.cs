using System.CommandLine;
using System.Text.RegularExpressions;
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
            context.Quiet,
        };
        root.Add(InfoCommand.Create(context));
        root.Add(EvalCommand.Create(context));
        root.Add(GenerateCommand.Create(context));
        root.Add(CompareCommand.Create(context));
        root.Add(QuantizeCommand.Create(context));
        root.Add(ImatrixCommand.Create(context));
        root.Add(TrainCommand.Create(context));
        root.Add(BenchCommand.Create(context));
        root.Add(SynthCommand.Create(context));
        root.Add(ConvertCommand.Create(context));
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
        // A command line that does not parse is one error line per problem and a pointer to the help, not the whole
        // help on stdout (a bare `rwkvquant` still shows the help).
        if (parse.Errors.Count > 0 && args.Length > 0 && !HelpExamples.IsHelp(parse))
            return Task.FromResult(ReportParseErrors(context, parse, args));
        var invocation = new InvocationConfiguration
        {
            Output = console.Profile.Out.Writer,
            Error = error,
            // Our actions report their own errors (one line, exit code 1); see CliContext.RunAsync.
            EnableDefaultExceptionHandler = false,
        };
        return parse.InvokeAsync(invocation, cancellationToken);
    }

    /// <summary>
    /// Reports a command line that does not parse: each problem as one <c>rwkvquant: error:</c> line on stderr in words
    /// (no .NET type names), then where the help is; with <c>--json</c> also a JSON error on stdout. Exit code 1.
    /// </summary>
    private static int ReportParseErrors(CliContext context, ParseResult parse, string[] args)
    {
        string[] messages = [.. parse.Errors.Select(e => Plain(e.Message)).Distinct(StringComparer.Ordinal)];
        if (messages.Any(m => m.StartsWith("Unrecognized command", StringComparison.Ordinal)))
            messages = [.. messages.Where(m => m != "Required command was not provided.")]; // the unrecognized word says it
        foreach (string message in messages)
            context.Error.WriteLine($"rwkvquant: error: {message}");
        string command = parse.CommandResult.Command is RootCommand ? "rwkvquant" : $"rwkvquant {parse.CommandResult.Command.Name}";
        context.Error.WriteLine($"rwkvquant: see '{command} --help'");
        if (args.Contains(context.Json.Name, StringComparer.Ordinal))
            context.WriteJson(new CliError(string.Join(" ", messages), "ParseError", CliContext.Failure));
        return CliContext.Failure;
    }

    /// <summary>System.CommandLine's "Cannot parse argument 'abc' for option '--bpw' as expected type
    /// 'System.Nullable`1[System.Double]'." in words: "--bpw: 'abc' is not a number."</summary>
    internal static string Plain(string message)
    {
        Match m = Regex.Match(message, @"^Cannot parse argument '(?<value>.*)' for (option|argument) '(?<name>.*)' as expected type '(?<type>.*)'\.?$");
        if (!m.Success)
            return message;
        string type = m.Groups["type"].Value;
        string kind = type switch
        {
            _ when type.Contains("System.Double", StringComparison.Ordinal) || type.Contains("System.Single", StringComparison.Ordinal) => "a number",
            _ when type.Contains("System.Int", StringComparison.Ordinal) || type.Contains("System.UInt", StringComparison.Ordinal) => "a whole number",
            _ when type.Contains("System.Boolean", StringComparison.Ordinal) => "true or false",
            _ => "a valid value",
        };
        return $"{m.Groups["name"].Value}: '{m.Groups["value"].Value}' is not {kind}.";
    }
}
