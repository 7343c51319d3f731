using System.Globalization;

namespace RwkvQuant.Fuzz;

/// <summary>Writes fuzz summaries as plain-text tables: cases per outcome per format, per mutation kind, and the defects.</summary>
public static class SummaryTable
{
    private static readonly FuzzOutcome[] Columns = Enum.GetValues<FuzzOutcome>();

    private static readonly string[] Headings = ["loaded", "rejected", "no-path", "other-exc", "hang", "over-alloc"];

    /// <summary><paramref name="text"/> on one line: control characters (a mutated file's names hold any bytes) shown as '·'.</summary>
    public static string Printable(string? text) =>
        text is null ? "" : string.Create(text.Length, text, (span, t) =>
        {
            for (int i = 0; i < t.Length; i++)
                span[i] = char.IsControl(t[i]) ? '\u00b7' : t[i];
        });

    /// <summary>Writes <paramref name="summaries"/> to <paramref name="writer"/>.</summary>
    public static void Write(IReadOnlyList<FormatSummary> summaries, TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(summaries);
        ArgumentNullException.ThrowIfNull(writer);
        var invariant = CultureInfo.InvariantCulture;
        writer.WriteLine(string.Create(invariant, $"{"format",-12} {"cases",7} {string.Join(" ", Headings.Select(h => $"{h,10}"))} {"defects",8} {"max alloc/bound",15} {"wall s",8} {"cpu s",8}"));
        foreach (FormatSummary s in summaries)
        {
            writer.WriteLine(string.Create(invariant,
                $"{s.Format.Name(),-12} {s.Cases,7} {string.Join(" ", Columns.Select(c => $"{s.Outcomes[c],10}"))} {s.DefectCount,8} {s.MaxAllocationToBound,15:P0} {s.Wall.TotalSeconds,8:0.0} {s.Cpu.TotalSeconds,8:0.0}"));
        }
        foreach (FormatSummary s in summaries)
        {
            writer.WriteLine();
            writer.WriteLine(string.Create(invariant, $"{s.Format.Name()} by mutation kind (seeds: {string.Join(", ", s.Seeds)})"));
            foreach ((string kind, Dictionary<FuzzOutcome, int> counts) in s.Kinds)
                writer.WriteLine(string.Create(invariant, $"  {kind,-16} {counts.Values.Sum(),7} {string.Join(" ", Columns.Select(c => $"{counts[c],10}"))}"));
        }
        foreach (FormatSummary s in summaries.Where(s => s.DefectCount > 0))
        {
            writer.WriteLine();
            writer.WriteLine(string.Create(invariant, $"{s.Format.Name()} defects:"));
            foreach (FuzzDefect d in s.Defects)
            {
                writer.WriteLine(string.Create(invariant, $"  case {d.Case} [{d.SeedName}] {Printable(d.Mutation.ToString())}"));
                writer.WriteLine(string.Create(invariant, $"    {d.Result.Outcome} in {d.Result.Loader}: {d.Result.ExceptionType}: {Printable(d.Result.Message)}"));
                if (!string.IsNullOrEmpty(d.Result.StackTop))
                    writer.WriteLine(string.Create(invariant, $"    at {Printable(d.Result.StackTop)}"));
                if (d.SavedFile is not null)
                    writer.WriteLine(string.Create(invariant, $"    file: {d.SavedFile}"));
            }
        }
    }
}
