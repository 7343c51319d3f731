using BenchmarkDotNet.Running;

namespace RwkvQuant.Benchmarks;

/// <summary>Entry point: <c>dotnet run -c Release --project RwkvQuant.Benchmarks -- --filter '*'</c>.</summary>
public static class Program
{
    /// <summary>Runs the benchmarks the arguments select (BenchmarkDotNet's switcher).</summary>
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
