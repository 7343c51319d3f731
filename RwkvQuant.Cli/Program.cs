using Spectre.Console;

namespace RwkvQuant.Cli;

internal static class Program
{
    private static Task<int> Main(string[] args)
    {
        IAnsiConsole console = AnsiConsole.Console;
        // Piped output has no terminal width; Spectre would assume 80 columns and wrap tensor names.
        if (Console.IsOutputRedirected)
            console.Profile.Width = 160;
        return CliApp.RunAsync(args, console, Console.Error);
    }
}
