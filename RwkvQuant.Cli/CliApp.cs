using System.CommandLine;
using RwkvQuant.Cli.Commands;
using Spectre.Console;

namespace RwkvQuant.Cli;

/// <summary>The <c>rwkvquant</c> command tree. Output goes to the given console, errors to the given writer.</summary>
internal static class CliApp
{
    public static RootCommand Build(CliContext context)
    {
        var root = new RootCommand("RwkvQuant: inspect, evaluate and run RWKV language models.")
        {
            context.Verbose,
        };
        root.Add(InfoCommand.Create(context));
        root.Add(EvalCommand.Create(context));
        root.Add(GenerateCommand.Create(context));
        root.Add(CompareCommand.Create(context));
        root.Add(QuantizeCommand.Create(context));
        root.Add(BenchCommand.Create(context));
        return root;
    }

    public static Task<int> RunAsync(string[] args, IAnsiConsole console, TextWriter error, CancellationToken cancellationToken = default)
    {
        var context = new CliContext(console, error);
        ParseResult parse = Build(context).Parse(args);
        var invocation = new InvocationConfiguration
        {
            Output = console.Profile.Out.Writer,
            Error = error,
            // Our actions report their own errors (one line, exit code 1); see CliContext.RunAsync.
            EnableDefaultExceptionHandler = false,
        };
        return parse.InvokeAsync(invocation, cancellationToken);
    }
}
