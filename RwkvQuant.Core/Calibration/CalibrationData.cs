using RwkvQuant.Corpora;
using RwkvQuant.Tokenizers;
using static TorchSharp.torch;

namespace RwkvQuant.Calibration;

/// <summary>
/// Token samples for calibration, all of the same length: the calibration documents are tokenized and joined into
/// one stream (separated by the tokens of <see cref="DocumentSeparator"/>), and <see cref="CalibrationOptions.SampleCount"/>
/// windows of <see cref="CalibrationOptions.TokensPerSample"/> tokens are cut from it as
/// <see cref="CalibrationOptions.Selection"/> says. Each sample runs from the empty state. Immutable.
/// Calibration text must never overlap the text a model is evaluated on: <see cref="FromCorpus"/> and
/// <see cref="EnsureDisjoint(IReadOnlyList{string}, IReadOnlyList{string})"/> refuse it.
/// </summary>
public sealed class CalibrationData
{
    /// <summary>The text put between two documents when they are joined into one stream.</summary>
    public const string DocumentSeparator = "\n\n";

    private readonly int[][] _samples;

    private CalibrationData(int[][] samples, CalibrationOptions options, int documentCount)
    {
        _samples = samples;
        Options = options;
        DocumentCount = documentCount;
    }

    /// <summary>The options the samples were cut with.</summary>
    public CalibrationOptions Options { get; }

    /// <summary>Number of documents the samples were cut from.</summary>
    public int DocumentCount { get; }

    /// <summary>The samples: <see cref="CalibrationOptions.SampleCount"/> arrays of <see cref="CalibrationOptions.TokensPerSample"/> token ids.</summary>
    public IReadOnlyList<int[]> Samples => _samples;

    /// <summary>Total number of tokens over all samples.</summary>
    public long TokenCount => (long)_samples.Length * Options.TokensPerSample;

    /// <summary>Builds samples from <paramref name="documents"/> tokenized by <paramref name="tokenizer"/>.</summary>
    /// <exception cref="ArgumentException">No document, or the text is too short for the samples asked for.</exception>
    public static CalibrationData FromDocuments(IReadOnlyList<string> documents, ITokenizer tokenizer, CalibrationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(documents);
        ArgumentNullException.ThrowIfNull(tokenizer);
        options ??= CalibrationOptions.Default;
        if (documents.Count == 0)
            throw new ArgumentException("No calibration document was given.", nameof(documents));

        var stream = new List<int>();
        int[] separator = tokenizer.Encode(DocumentSeparator);
        for (int d = 0; d < documents.Count; d++)
        {
            if (d > 0)
                stream.AddRange(separator);
            stream.AddRange(tokenizer.Encode(documents[d]));
        }
        int length = options.TokensPerSample;
        if (stream.Count < length)
            throw new ArgumentException($"The calibration text has {stream.Count} tokens; one sample needs {length}.", nameof(documents));

        var samples = new int[options.SampleCount][];
        if (options.Selection == CalibrationSelection.Consecutive)
        {
            long needed = (long)options.SampleCount * length;
            if (stream.Count < needed)
                throw new ArgumentException($"The calibration text has {stream.Count} tokens; {options.SampleCount} consecutive samples of {length} need {needed}. Give more text, or fewer or shorter samples.", nameof(documents));
            for (int s = 0; s < samples.Length; s++)
                samples[s] = stream.GetRange(s * length, length).ToArray();
        }
        else
        {
            var random = new Random(options.Seed);
            for (int s = 0; s < samples.Length; s++)
                samples[s] = stream.GetRange(random.Next(stream.Count - length + 1), length).ToArray();
        }
        return new CalibrationData(samples, options, documents.Count);
    }

    /// <summary>
    /// Builds samples from documents <paramref name="documents"/> of the corpus at <paramref name="path"/> (see
    /// <see cref="TextCorpus.Load"/>), after checking that they do not overlap <paramref name="evaluation"/>, the
    /// documents of the same corpus that results will be reported on.
    /// </summary>
    /// <exception cref="ArgumentException">The calibration range overlaps the evaluation range (the message names both
    /// and the shared documents), or the text is too short.</exception>
    public static CalibrationData FromCorpus(string path, DocumentRange documents, ITokenizer tokenizer,
        CalibrationOptions? options = null, DocumentRange? evaluation = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (evaluation is { } held)
            EnsureDisjoint(documents, held);
        return FromDocuments(TextCorpus.Load(path, documents), tokenizer, options);
    }

    /// <summary>Refuses calibration and evaluation ranges of one corpus that share a document.</summary>
    /// <exception cref="ArgumentException">The ranges overlap.</exception>
    public static void EnsureDisjoint(DocumentRange calibration, DocumentRange evaluation)
    {
        int first = Math.Max(calibration.First, evaluation.First), last = Math.Min(calibration.Last, evaluation.Last);
        if (first <= last)
        {
            throw new ArgumentException(
                $"Calibration documents {calibration} overlap the evaluation documents {evaluation} (documents {new DocumentRange(first, last)} are in both). " +
                "Calibrate on text the evaluation does not use.", nameof(calibration));
        }
    }

    /// <summary>
    /// Refuses calibration documents that also appear among the evaluation documents (compared by their text,
    /// ignoring leading and trailing white space), for calibration and evaluation text from different files.
    /// </summary>
    /// <exception cref="ArgumentException">A document is in both (the message gives its indices and opening words).</exception>
    public static void EnsureDisjoint(IReadOnlyList<string> calibration, IReadOnlyList<string> evaluation)
    {
        ArgumentNullException.ThrowIfNull(calibration);
        ArgumentNullException.ThrowIfNull(evaluation);
        var held = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int e = 0; e < evaluation.Count; e++)
            held.TryAdd(evaluation[e].Trim(), e);
        for (int c = 0; c < calibration.Count; c++)
        {
            string text = calibration[c].Trim();
            if (text.Length > 0 && held.TryGetValue(text, out int e))
            {
                string opening = text.Length > 40 ? text[..40] + "…" : text;
                throw new ArgumentException(
                    $"Calibration document {c} is also evaluation document {e} (\"{opening}\"). Calibrate on text the evaluation does not use.",
                    nameof(calibration));
            }
        }
    }

    /// <summary>Samples <c>[first, first + count)</c> as an int64 tensor <c>[count, TokensPerSample]</c>.</summary>
    internal Tensor Batch(int first, int count)
    {
        var values = new long[(long)count * Options.TokensPerSample];
        for (int s = 0; s < count; s++)
        {
            int[] sample = _samples[first + s];
            for (int t = 0; t < sample.Length; t++)
                values[(long)s * sample.Length + t] = sample[t];
        }
        return tensor(values, [count, Options.TokensPerSample], ScalarType.Int64);
    }
}
