namespace RwkvQuant.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        Console.Error.WriteLine("rwkvquant: commands are being built (info, eval, generate).");
        return args.Length == 0 ? 0 : 1;
    }
}
