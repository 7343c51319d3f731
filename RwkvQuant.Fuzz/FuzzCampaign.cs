using System.Diagnostics;
using System.Globalization;
using RwkvQuant.Inference;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;

namespace RwkvQuant.Fuzz;

/// <summary>
/// Runs the cases of one format: case <c>i</c> draws its seed file and mutation from a generator seeded by the run's
/// seed, the format and <c>i</c> alone (so any case can be repeated by itself), writes the mutated file, runs the
/// format's loaders on it (<see cref="CaseRunner"/>), and saves every file that caused a defect with a note of its
/// mutation and result. Before each case a marker file names it, so a case that kills the process is known.
/// </summary>
public sealed class FuzzCampaign
{
    /// <summary>Loads a model file and reads every tensor (file-backed tensors are read here, not at open).</summary>
    public static FuzzLoader ModelLoader { get; } = new("RwkvModelFile.Load", path => _ = RwkvModelFile.Load(path).FindNonFinite());

    /// <summary>Loads a <c>.rwkvq</c> file as its quantized model.</summary>
    public static FuzzLoader QuantizedLoader { get; } = new("QuantizedModelFile.Load", path => _ = QuantizedModelFile.Load(path));

    /// <summary>Loads a <c>.rwkvq</c> file into the inference engine, tensor by tensor.</summary>
    public static FuzzLoader EngineLoader { get; } = new("RwkvEngine.Load", path => _ = RwkvEngine.Load(path));

    private readonly FuzzOptions _options;
    private readonly string _outputDirectory;
    private readonly CaseRunner _runner;

    /// <summary>A campaign of <paramref name="options"/> that saves defect files under <paramref name="outputDirectory"/>.</summary>
    public FuzzCampaign(FuzzOptions options, string outputDirectory)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(outputDirectory);
        _options = options;
        _outputDirectory = Directory.CreateDirectory(outputDirectory).FullName;
        _runner = new CaseRunner(options.Timeout);
    }

    /// <summary>The loaders each case of <paramref name="format"/> runs: <see cref="ModelLoader"/>, and for <c>.rwkvq</c>
    /// also <see cref="QuantizedLoader"/> and <see cref="EngineLoader"/>.</summary>
    public static IReadOnlyList<FuzzLoader> LoadersFor(FuzzFormat format) =>
        format == FuzzFormat.Rwkvq ? [ModelLoader, QuantizedLoader, EngineLoader] : [ModelLoader];

    /// <summary>The generator seed of case <paramref name="index"/> of <paramref name="format"/> in a run of <paramref name="seed"/>.</summary>
    public static int CaseSeed(int seed, FuzzFormat format, int index)
    {
        // SplitMix64 of the three, so that neighbouring cases and runs draw unrelated streams.
        ulong z = ((ulong)(uint)seed << 32) ^ ((ulong)format << 24) ^ (uint)index;
        z += 0x9E3779B97F4A7C15;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return (int)(z ^ (z >> 31));
    }

    /// <summary>The mutated file of case <paramref name="index"/>.</summary>
    public static MutatedFile CaseFile(IReadOnlyList<SeedFile> seeds, int seed, FuzzFormat format, int index)
    {
        ArgumentNullException.ThrowIfNull(seeds);
        var random = new Random(CaseSeed(seed, format, index));
        return Mutator.Mutate(seeds[random.Next(seeds.Count)], random);
    }

    /// <summary>Runs <see cref="FuzzOptions.Cases"/> cases of <paramref name="format"/> over <paramref name="seeds"/>.</summary>
    /// <param name="format">The format.</param>
    /// <param name="seeds">Its seed files.</param>
    /// <param name="loaders">The loaders (default <see cref="LoadersFor"/>).</param>
    /// <param name="progress">Told the number of finished cases after each.</param>
    /// <param name="log">When given, one line per case: its mutation and result.</param>
    public FormatSummary Run(FuzzFormat format, IReadOnlyList<SeedFile> seeds, IReadOnlyList<FuzzLoader>? loaders = null, IProgress<int>? progress = null, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(seeds);
        loaders ??= LoadersFor(format);
        var summary = new FormatSummary(format, seeds.Select(s => s.Name).ToList());
        string path = Path.Combine(_outputDirectory, "case-" + format.Name() + format.Extension());
        string marker = Path.Combine(_outputDirectory, "in-flight.txt");
        var clock = Stopwatch.StartNew();
        TimeSpan cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        for (int i = 0; i < _options.Cases; i++)
        {
            MutatedFile file = CaseFile(seeds, _options.Seed, format, i);
            File.WriteAllText(marker, Describe(format, i, file) + Environment.NewLine);
            File.WriteAllBytes(path, file.Bytes);
            CaseResult result = _runner.Run(path, loaders);
            summary.Add(file, result, file.Bytes.LongLength);
            log?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{i}\t{file.SeedName}\t{SummaryTable.Printable(file.Mutation.ToString())}\t{result.Outcome}\t{result.Loader}\t{result.ExceptionType}\t{SummaryTable.Printable(result.Message)}"));
            if (result.Outcome.IsDefect())
                summary.AddDefect(new FuzzDefect(i, file.SeedName, file.Mutation, result, Save(format, i, file, result)));
            progress?.Report(i + 1);
        }
        File.Delete(marker);
        summary.Wall = clock.Elapsed;
        summary.Cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
        return summary;
    }

    private string Save(FuzzFormat format, int index, MutatedFile file, CaseResult result)
    {
        string name = string.Create(CultureInfo.InvariantCulture, $"{format.Name()}-{index:D6}-{file.Mutation.Kind}");
        string path = Path.Combine(_outputDirectory, name + format.Extension());
        File.WriteAllBytes(path, file.Bytes);
        File.WriteAllText(Path.Combine(_outputDirectory, name + ".txt"),
            $"{Describe(format, index, file)}\n{result.Outcome} in {result.Loader}: {result.ExceptionType}: {result.Message}\n{result.StackTop}\n");
        return path;
    }

    private string Describe(FuzzFormat format, int index, MutatedFile file) =>
        string.Create(CultureInfo.InvariantCulture, $"{format.Name()} case {index} (seed {_options.Seed}) of '{file.SeedName}': {file.Mutation}");
}
