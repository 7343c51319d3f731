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
            InvocationConfiguration configuration = parseResult.InvocationConfiguration;
            TextWriter real = configuration.Output;
            var buffer = new StringWriter();
            configuration.Output = buffer;
            int exitCode;
            try
            {
                exitCode = help.Invoke(parseResult);
            }
            finally
            {
                configuration.Output = real;
            }
            real.Write(MarkOptionalArguments(buffer.ToString(), parseResult.CommandResult.Command));
            if (!examples.TryGetValue(parseResult.CommandResult.Command, out IReadOnlyList<HelpExample>? list))
                return exitCode;
            TextWriter output = real;
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

    /// <summary>
    /// System.CommandLine lists a subcommand as <c>info &lt;model&gt;</c> even when the argument is optional (its own
    /// usage line says <c>[&lt;model&gt;]</c>): in the command list, optional arguments get their brackets and the
    /// description column is re-aligned (wrapped description lines with it).
    /// </summary>
    internal static string MarkOptionalArguments(string help, Command command)
    {
        var optional = command.Subcommands
            .SelectMany(sub => sub.Arguments.Where(a => a.Arity.MinimumNumberOfValues == 0).Select(a => (Label: $"{sub.Name} <{a.Name}>", Marked: $"{sub.Name} [<{a.Name}>]")))
            .ToList();
        if (optional.Count == 0)
            return help;
        string newline = help.Contains("\r\n", StringComparison.Ordinal) ? "\r\n" : "\n";
        List<string> lines = [.. help.Split(newline)];
        int start = lines.IndexOf("Commands:") + 1;
        if (start == 0)
            return help;
        int end = start;
        while (end < lines.Count && lines[end].Length > 0)
            end++;
        var rows = new List<(string Label, List<string> Description)>();
        foreach (string line in lines.Skip(start).Take(end - start))
        {
            System.Text.RegularExpressions.Match row = System.Text.RegularExpressions.Regex.Match(line, @"^  (\S.*?)\s{2,}(.*)$");
            if (row.Success && !line.StartsWith("   ", StringComparison.Ordinal))
                rows.Add((row.Groups[1].Value, [row.Groups[2].Value]));
            else if (rows.Count > 0)
                rows[^1].Description.Add(line.Trim());
            else
                return help;                                                  // not the layout this expects: leave it
        }
        rows = [.. rows.Select(r => (optional.FirstOrDefault(o => o.Label == r.Label).Marked ?? r.Label, r.Description))];
        int width = rows.Max(r => r.Label.Length) + 2;
        var fixedRows = rows.SelectMany(r => r.Description.Select((d, i) => (i == 0 ? "  " + r.Label.PadRight(width) : new string(' ', 2 + width)) + d));
        lines = [.. lines.Take(start), .. fixedRows, .. lines.Skip(end)];
        return string.Join(newline, lines);
    }
}
