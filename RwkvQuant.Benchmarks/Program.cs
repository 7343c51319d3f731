using BenchmarkDotNet.Running;

namespace RwkvQuant.Benchmarks;

/// <summary>Entry point: <c>dotnet run -c Release --project RwkvQuant.Benchmarks -- --filter '*'</c>.</summary>
public static class Program
{
    /// <summary>Runs the benchmarks the arguments select (BenchmarkDotNet's switcher), or with <c>interleaved</c> first the
    /// alternating float32/3-bit decoding comparison (<see cref="Inference.InterleavedDecoding"/>).</summary>
    public static void Main(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Length > 0 && args[0] == "interleaved")
        {
            Inference.InterleavedDecoding.Run(args[1..]);
            return;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
