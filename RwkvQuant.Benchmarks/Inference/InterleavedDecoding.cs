using System.Diagnostics;
using System.Globalization;

namespace RwkvQuant.Benchmarks.Inference;

/// <summary>
/// The float32 and the 3-bit engine of <see cref="DecodingBenchmarks"/> timed in alternating rounds of a few tokens each,
/// medians and minima per engine: on a shared machine whose speed drifts (other tenants' load), BenchmarkDotNet's
/// one-method-after-the-other runs can time the two engines in different conditions, while alternation exposes both to
/// the same ones, so their ratio is the steadier figure. Run with
/// <c>dotnet run -c Release --project RwkvQuant.Benchmarks -- interleaved [model] [threads] [rounds] [prefill]</c>
/// (model: <see cref="DecodingBenchmarks.Synthetic"/> (default), <see cref="DecodingBenchmarks.Default"/> or an rwkv.cpp
/// fixture's file name; threads: 1 (default) or 0 for every processor; <c>prefill</c>: the four runs of
/// <see cref="PrefillBenchmarks"/> instead — float32 and 3-bit, a 128-token prompt stepped and prefilled).
/// </summary>
public static class InterleavedDecoding
{
    /// <summary>Runs the comparison the arguments name and prints one line per engine and their ratio.</summary>
    public static void Run(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        string model = args.Length > 0 ? args[0] : DecodingBenchmarks.Synthetic;
        int threads = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1;
        int rounds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 40;
        if (args.Length > 3 && args[3] == "prefill")
        {
            RunPrefill(model, threads, rounds);
            return;
        }
        var benchmarks = new DecodingBenchmarks { Model = model, Threads = threads };
        benchmarks.Setup();
        try
        {
            // Tokens per round: a few of the 12-layer model's ~10–40 ms, a few hundred of the tiny models' ~0.2 ms.
            int tokens = model == DecodingBenchmarks.Synthetic ? 3 : 200;
            Func<float>[] engines = [benchmarks.EngineFloat32, benchmarks.EngineQuantized];
            var times = new List<double>[] { [], [] };
            const int warmupRounds = 5;
            for (int round = 0; round < warmupRounds + rounds; round++)
            {
                for (int e = 0; e < engines.Length; e++)
                {
                    var stopwatch = Stopwatch.StartNew();
                    for (int i = 0; i < tokens; i++)
                        engines[e]();
                    if (round >= warmupRounds)
                        times[e].Add(stopwatch.Elapsed.TotalMicroseconds / tokens);
                }
            }
            foreach (List<double> list in times)
                list.Sort();
            double Median(int e) => times[e][times[e].Count / 2];
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{model}, threads {threads}, {rounds} rounds of {tokens} tokens: float32 engine median {Median(0):F1} µs/token (min {times[0][0]:F1}), " +
                $"3-bit engine median {Median(1):F1} µs/token (min {times[1][0]:F1}); ratio of medians {Median(0) / Median(1):F2}, of minima {times[0][0] / times[1][0]:F2}"));
        }
        finally
        {
            benchmarks.Cleanup();
        }
    }

    /// <summary>The four prompt runs (float32 and 3-bit, stepped and prefilled) in alternating rounds, one prompt each.</summary>
    private static void RunPrefill(string model, int threads, int rounds)
    {
        var benchmarks = new PrefillBenchmarks { Model = model, Threads = threads };
        benchmarks.Setup();
        try
        {
            Func<float>[] runs = [benchmarks.Float32Stepped, benchmarks.Float32Prefill, benchmarks.QuantizedStepped, benchmarks.QuantizedPrefill];
            string[] names = ["float32 stepped", "float32 prefill", "3-bit stepped", "3-bit prefill"];
            var times = new List<double>[] { [], [], [], [] };
            const int warmupRounds = 3;
            for (int round = 0; round < warmupRounds + rounds; round++)
            {
                for (int r = 0; r < runs.Length; r++)
                {
                    var stopwatch = Stopwatch.StartNew();
                    runs[r]();
                    if (round >= warmupRounds)
                        times[r].Add(stopwatch.Elapsed.TotalSeconds);
                }
            }
            var line = new System.Text.StringBuilder(string.Create(CultureInfo.InvariantCulture, $"{model}, threads {threads}, {rounds} rounds, tokens/s (median, best):"));
            for (int r = 0; r < runs.Length; r++)
            {
                times[r].Sort();
                line.Append(string.Create(CultureInfo.InvariantCulture,
                    $" {names[r]} {PrefillBenchmarks.PromptLength / times[r][times[r].Count / 2]:F0} ({PrefillBenchmarks.PromptLength / times[r][0]:F0});"));
            }
            Console.WriteLine(line.ToString().TrimEnd(';'));
        }
        finally
        {
            benchmarks.Cleanup();
        }
    }
}
