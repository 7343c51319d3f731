using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;

namespace RwkvQuant.Cli;

/// <summary>One example command line and what it does, shown in the Examples section of <c>--help</c>.</summary>
internal sealed record HelpExample(string CommandLine, string What);

/// <summary>
/// An "Examples:" section at the end of a command's <c>--help</c>: the help option's action writes System.CommandLine's
/// help, then the examples of the command asked about, so examples appear in that command's help only, not in the
/// command list of the root help.
/// </summary>
internal sealed class HelpExamples
{
    private readonly Dictionary<Command, IReadOnlyList<HelpExample>> _examples = [];

    public void Add(Command command, params IReadOnlyList<HelpExample> examples) => _examples[command] = examples;

    /// <summary>Makes the help option of <paramref name="root"/> (recursive, so every command's) write the examples.</summary>
    public void Install(RootCommand root)
    {
        HelpOption help = root.Options.OfType<HelpOption>().Single();
        help.Action = new ExamplesAction((SynchronousCommandLineAction)help.Action!, _examples);
    }

    /// <summary>True when <paramref name="parse"/> asks for help (whatever else is wrong with the command line).</summary>
    public static bool IsHelp(ParseResult parse) => parse.Action is ExamplesAction or System.CommandLine.Help.HelpAction;

    private sealed class ExamplesAction(SynchronousCommandLineAction help, Dictionary<Command, IReadOnlyList<HelpExample>> examples) : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            int exitCode = help.Invoke(parseResult);
            if (!examples.TryGetValue(parseResult.CommandResult.Command, out IReadOnlyList<HelpExample>? list))
                return exitCode;
            TextWriter output = parseResult.InvocationConfiguration.Output;
            output.WriteLine("Examples:");
            for (int i = 0; i < list.Count; i++)
            {
                if (i > 0)
                    output.WriteLine();
                output.WriteLine($"  {list[i].What}:");
                output.WriteLine($"    {list[i].CommandLine}");
            }
            output.WriteLine();
            return exitCode;
        }
    }
}
