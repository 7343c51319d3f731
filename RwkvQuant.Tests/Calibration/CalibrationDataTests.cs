using RwkvQuant.Calibration;
using RwkvQuant.Corpora;
using RwkvQuant.Tokenizers;

namespace RwkvQuant.Tests.Calibration;

public class CalibrationDataTests
{
    [Fact]
    public void Options_are_validated_when_set()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new CalibrationOptions { SampleCount = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new CalibrationOptions { TokensPerSample = 1 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new CalibrationOptions { BatchSize = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new CalibrationOptions { Selection = (CalibrationSelection)7 });
        Assert.Equal(128, CalibrationOptions.Default.SampleCount);
        Assert.Equal(512, CalibrationOptions.Default.TokensPerSample);
    }

    [Fact]
    public void Consecutive_windows_cut_the_joined_stream_in_order()
    {
        string[] documents = ["abcdef", "ghij"];
        var options = new CalibrationOptions { SampleCount = 3, TokensPerSample = 4, Selection = CalibrationSelection.Consecutive };
        CalibrationData data = CalibrationData.FromDocuments(documents, ByteTokenizer.Instance, options);
        // stream: a b c d e f \n \n g h i j
        Assert.Equal("abcd", ByteTokenizer.Instance.Decode(data.Samples[0]));
        Assert.Equal("ef\n\n", ByteTokenizer.Instance.Decode(data.Samples[1]));
        Assert.Equal("ghij", ByteTokenizer.Instance.Decode(data.Samples[2]));
        Assert.Equal(12, data.TokenCount);
        Assert.Equal(2, data.DocumentCount);

        Assert.Throws<ArgumentException>(() => CalibrationData.FromDocuments(documents, ByteTokenizer.Instance, options with { SampleCount = 4 }));
    }

    [Fact]
    public void Random_windows_are_seeded_substrings_of_the_stream()
    {
        string text = string.Concat(Enumerable.Range(0, 50).Select(i => (char)('a' + i % 26)));
        var options = new CalibrationOptions { SampleCount = 20, TokensPerSample = 7, Seed = 3 };
        CalibrationData first = CalibrationData.FromDocuments([text], ByteTokenizer.Instance, options);
        CalibrationData second = CalibrationData.FromDocuments([text], ByteTokenizer.Instance, options);
        CalibrationData other = CalibrationData.FromDocuments([text], ByteTokenizer.Instance, options with { Seed = 4 });

        Assert.Equal(first.Samples, second.Samples);
        Assert.NotEqual(first.Samples, other.Samples);
        Assert.All(first.Samples, s => Assert.Contains(ByteTokenizer.Instance.Decode(s), text, StringComparison.Ordinal));
        Assert.All(first.Samples, s => Assert.Equal(7, s.Length));
        Assert.Throws<ArgumentException>(() => CalibrationData.FromDocuments(["short"], ByteTokenizer.Instance, options));
        Assert.Throws<ArgumentException>(() => CalibrationData.FromDocuments([], ByteTokenizer.Instance, options));
    }

    [Fact]
    public void Overlapping_document_ranges_are_refused_with_both_ranges_named()
    {
        var error = Assert.Throws<ArgumentException>(() => CalibrationData.EnsureDisjoint(new DocumentRange(0, 127), new DocumentRange(100, 200)));
        Assert.Contains("0..127", error.Message, StringComparison.Ordinal);
        Assert.Contains("100..200", error.Message, StringComparison.Ordinal);
        Assert.Contains("100..127", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => CalibrationData.EnsureDisjoint(new DocumentRange(5152, 5152), new DocumentRange(5000, 5152)));
        CalibrationData.EnsureDisjoint(new DocumentRange(0, 127), new DocumentRange(5000, 5152));
        CalibrationData.EnsureDisjoint(new DocumentRange(0, 4999), new DocumentRange(5000, 5152));
    }

    [Fact]
    public void The_same_document_in_calibration_and_evaluation_text_is_refused()
    {
        var error = Assert.Throws<ArgumentException>(() =>
            CalibrationData.EnsureDisjoint(["one text", "the shared text\n"], ["other", "  the shared text"]));
        Assert.Contains("Calibration document 1 is also evaluation document 1", error.Message, StringComparison.Ordinal);
        CalibrationData.EnsureDisjoint(["one text"], ["another text"]);
    }

    [FixtureFact]
    public void From_corpus_refuses_an_overlap_before_reading_and_reads_the_asked_documents()
    {
        string lambada = Fixtures.Path("text", "lambada_test.jsonl");
        var options = new CalibrationOptions { SampleCount = 4, TokensPerSample = 64 };
        Assert.Throws<ArgumentException>(() => CalibrationData.FromCorpus(lambada, new DocumentRange(4990, 5010),
            Utf16LeByteTokenizer.Instance, options, evaluation: new DocumentRange(5000, 5152)));

        CalibrationData data = CalibrationData.FromCorpus(lambada, new DocumentRange(0, 7), Utf16LeByteTokenizer.Instance, options,
            evaluation: new DocumentRange(5000, 5152));
        Assert.Equal(8, data.DocumentCount);
        Assert.Equal(4, data.Samples.Count);
        string joined = string.Join(CalibrationData.DocumentSeparator, TextCorpus.Load(lambada, new DocumentRange(0, 7)));
        // 64 UTF-16LE bytes may start mid-character only at an odd offset; an even-aligned window decodes to a substring.
        foreach (int[] sample in data.Samples)
        {
            byte[] bytes = Utf16LeByteTokenizer.Instance.DecodeBytes(sample);
            Assert.Equal(64, bytes.Length);
        }
        Assert.Contains(data.Samples, s => joined.Contains(Utf16LeByteTokenizer.Instance.Decode(s), StringComparison.Ordinal));
    }
}
