using System.Globalization;
using RwkvQuant.Fuzz;

// rwkvquant-fuzz [--cases N] [--format bin|pth|safetensors|rwkvq] [--seed N] [--timeout-s S] [--out dir] [--fixtures dir] [--log cases.tsv]
// Mutates the seed files of each format, loads every mutated file and prints cases per outcome; exits 1 when a case
// found a defect (an exception other than a refusal naming the file, a hang, an allocation beyond the bound).
const string Usage = "usage: rwkvquant-fuzz [--cases N] [--format bin|pth|safetensors|rwkvq] [--seed N] [--timeout-s S] [--out dir] [--fixtures dir] [--log cases.tsv]";
var options = new FuzzOptions();
string? output = null, fixtures = null, log = null;
try
{
    for (int i = 0; i < args.Length; i++)
    {
        string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
        switch (args[i])
        {
            case "--cases": options = options with { Cases = int.Parse(Value(), CultureInfo.InvariantCulture) }; break;
            case "--format": options = options with { Formats = [.. Value().Split(',').Select(FuzzFormats.Parse)] }; break;
            case "--seed": options = options with { Seed = int.Parse(Value(), CultureInfo.InvariantCulture) }; break;
            case "--timeout-s": options = options with { Timeout = TimeSpan.FromSeconds(double.Parse(Value(), CultureInfo.InvariantCulture)) }; break;
            case "--out": output = Value(); break;
            case "--fixtures": fixtures = Value(); break;
            case "--log": log = Value(); break;
            case "-h" or "--help": Console.WriteLine(Usage); return 0;
            default: throw new ArgumentException($"Unknown argument '{args[i]}'.");
        }
    }
}
catch (Exception exception) when (exception is ArgumentException or FormatException or OverflowException)
{
    Console.Error.WriteLine(exception.Message);
    Console.Error.WriteLine(Usage);
    return 2;
}

fixtures ??= SeedFiles.LocateFixtures();
if (fixtures is null || !Directory.Exists(fixtures))
{
    Console.Error.WriteLine($"The shared fixtures were not found: pass --fixtures, set {SeedFiles.FixturesVariable}, or place the repository beside ../shared/fixtures.");
    return 2;
}
output ??= Path.Combine(Path.GetTempPath(), $"rwkvquant-fuzz-{options.Seed}");
var campaign = new FuzzCampaign(options, output);
Console.WriteLine($"fuzzing {string.Join(", ", options.Formats.Select(f => f.Name()))}: {options.Cases} cases each, seed {options.Seed}, " +
    $"timeout {options.Timeout.TotalSeconds} s, allocation bound 64 x file + 64 MiB; files in {output}");
var summaries = new List<FormatSummary>();
using StreamWriter? logWriter = log is null ? null : new StreamWriter(log);
foreach (FuzzFormat format in options.Formats)
{
    IReadOnlyList<SeedFile> seeds = SeedFiles.Create(format, fixtures, Path.Combine(output, "seeds"));
    summaries.Add(campaign.Run(format, seeds, progress: new SynchronousProgress(done =>
    {
        if (done % 500 == 0 || done == options.Cases)
            Console.WriteLine($"  {format.Name()}: {done}/{options.Cases}");
    }), log: logWriter));
}
Console.WriteLine();
SummaryTable.Write(summaries, Console.Out);
return summaries.Any(s => s.DefectCount > 0) ? 1 : 0;

/// <summary>Reports on the caller's thread, in order (Progress&lt;T&gt; posts to the thread pool).</summary>
internal sealed class SynchronousProgress(Action<int> report) : IProgress<int>
{
    public void Report(int value) => report(value);
}
