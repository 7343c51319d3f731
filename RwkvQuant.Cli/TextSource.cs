using System.Text;
using RwkvQuant.Corpora;
using RwkvQuant.Evaluation;

namespace RwkvQuant.Cli;

/// <summary>
/// The documents a command calibrates or evaluates on: from a text file (<see cref="TextCorpus"/>), or from a split of
/// the .NET reference-pack documentation (<see cref="ReferencePackCorpus"/>), the default model's texts.
/// </summary>
/// <param name="Texts">The documents.</param>
/// <param name="Name">The file's path, or which split (for JSON).</param>
/// <param name="Description">How reports name them (file name or split, and the documents taken).</param>
/// <param name="IsFile">Whether they came from a file.</param>
internal sealed record TextSource(IReadOnlyList<string> Texts, string Name, string Description, bool IsFile)
{
    /// <summary>Documents <paramref name="range"/> (inclusive; all when null) of the file at <paramref name="path"/>.</summary>
    public static TextSource FromFile(string path, DocumentRange? range) =>
        new(TextCorpus.Load(path, range), path, range is null ? Path.GetFileName(path) : $"{Path.GetFileName(path)} documents {range}", true);

    /// <summary>The file at <paramref name="path"/>, or, when it is null, split <paramref name="split"/> of the corpus.</summary>
    public static TextSource Resolve(string? path, DocumentRange? range, CorpusSplit split, Lazy<ReferencePackCorpus> corpus) =>
        path is not null ? FromFile(path, range) : FromCorpus(corpus.Value, split, range);

    /// <summary>Reads the corpus (from <paramref name="directory"/>, or the pack found through the SDK).</summary>
    /// <exception cref="DirectoryNotFoundException">No reference pack was found; the message says where it looked.</exception>
    public static ReferencePackCorpus LoadCorpus(string? directory, CancellationToken cancellationToken) =>
        ReferencePackCorpus.Load(directory, cancellationToken);

    /// <summary>Documents <paramref name="range"/> (inclusive; all when null) of <paramref name="split"/>.</summary>
    public static TextSource FromCorpus(ReferencePackCorpus corpus, CorpusSplit split, DocumentRange? range)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        IReadOnlyList<string> texts = corpus.Texts(split);
        string name = SplitName(split);
        if (range is not { } r)
            return new TextSource(texts, name, $"{name} ({texts.Count} documents)", false);
        if (r.Last >= texts.Count)
            throw new ArgumentException($"Documents {r} of the {name} were asked for, but it has {texts.Count} (0..{texts.Count - 1}).");
        return new TextSource([.. texts.Skip(r.First).Take(r.Count)], name, $"{name} documents {r}", false);
    }

    /// <summary>
    /// About <paramref name="byteBudget"/> UTF-8 bytes of <paramref name="split"/>: every k-th document, k chosen so the
    /// documents taken spread over the whole split (whose order follows the assemblies) and add up to about the budget.
    /// </summary>
    public static TextSource Sample(ReferencePackCorpus corpus, CorpusSplit split, int byteBudget)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        IReadOnlyList<string> texts = corpus.Texts(split);
        long total = texts.Sum(t => (long)Encoding.UTF8.GetByteCount(t));
        int stride = (int)Math.Max(1, Math.Ceiling(total / (double)Math.Max(1, byteBudget)));
        string[] sample = [.. texts.Where((_, i) => i % stride == 0)];
        string name = SplitName(split);
        return new TextSource(sample, name,
            stride == 1 ? $"{name} ({sample.Length} documents)" : $"{name}, every {stride}th document ({sample.Length} of {texts.Count})", false);
    }

    /// <summary>Refuses calibration documents that are also evaluation documents (by range within one file, else by text).</summary>
    public static void EnsureDisjoint(TextSource calibration, DocumentRange? calibrationRange, TextSource evaluation, DocumentRange? evaluationRange)
    {
        ArgumentNullException.ThrowIfNull(calibration);
        ArgumentNullException.ThrowIfNull(evaluation);
        bool sameFile = calibration.IsFile && evaluation.IsFile
            && string.Equals(Path.GetFullPath(calibration.Name), Path.GetFullPath(evaluation.Name), StringComparison.Ordinal);
        if (sameFile && calibrationRange is { } c && evaluationRange is { } e)
            Calibration.CalibrationData.EnsureDisjoint(c, e);
        else
            Calibration.CalibrationData.EnsureDisjoint(calibration.Texts, evaluation.Texts);
    }

    private static string SplitName(CorpusSplit split) => $"reference-pack {split.ToString().ToLowerInvariant()} split";
}
