using RwkvQuant.Calibration;
using RwkvQuant.Corpora;

namespace RwkvQuant.Tests.Training;

/// <summary>A fact that needs the .NET SDK's reference pack documentation: skipped where none is found.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class ReferencePackFactAttribute : FactAttribute
{
    public ReferencePackFactAttribute()
    {
        if (ReferencePackCorpus.FindReferencePackDirectory() is null)
            Skip = "No .NET 10 reference pack with XML documentation was found.";
    }
}

public sealed class ReferencePackCorpusTests : IDisposable
{
    private const string First = """
        <?xml version="1.0" encoding="utf-8"?>
        <doc>
          <assembly><name>A</name></assembly>
          <members>
            <member name="T:System.Widget">
              <summary>Represents a <see cref="T:System.Collections.Generic.List`1" /> of
                 <c>widgets</c>.</summary>
              <remarks><para>First   paragraph.</para><para>Returns <see langword="null" /> when <paramref name="x" /> is empty.</para></remarks>
            </member>
            <member name="M:System.Widget.#ctor(System.Int32)">
              <summary>Initializes a new instance of the <see cref="T:System.Widget" /> class.</summary>
              <param name="size">Skipped text.</param>
            </member>
            <member name="M:System.Widget.Join(System.String,System.String[])">
              <param name="a">Parameters come before the summary here.</param><summary>Joins <typeparamref name="T" /> with <see cref="M:System.String.Join(System.String,System.String[])" />.</summary>
            </member>
            <member name="P:System.Widget.Empty">
              <returns>Only a returns element: no document.</returns>
            </member>
            <member name="F:System.Widget.Same">
              <summary>Same text.</summary>
            </member>
          </members>
        </doc>
        """;

    private const string Second = """
        <?xml version="1.0" encoding="utf-8"?>
        <doc>
          <members>
            <member name="F:System.Other.Same">
              <summary>Same text.</summary>
            </member>
            <member name="T:System.Other">
              <summary>Another <see href="https://example.org">link text</see> type.</summary>
            </member>
          </members>
        </doc>
        """;

    private readonly string _directory = Directory.CreateTempSubdirectory("rwkvquant-corpus-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string[] WriteFiles()
    {
        string a = Path.Combine(_directory, "A.xml"), b = Path.Combine(_directory, "B.xml");
        File.WriteAllText(a, First);
        File.WriteAllText(b, Second);
        return [a, b];
    }

    [Fact]
    public void Extraction_renders_summary_and_remarks_text()
    {
        string[] files = WriteFiles();
        ReferencePackCorpus corpus = ReferencePackCorpus.FromFiles(files);

        Assert.Equal(
        [
            ("T:System.Widget", "Represents a List of widgets.\nFirst paragraph. Returns null when x is empty."),
            ("M:System.Widget.#ctor(System.Int32)", "Initializes a new instance of the Widget class."),
            ("M:System.Widget.Join(System.String,System.String[])", "Joins T with Join."),
            ("F:System.Widget.Same", "Same text."),
            ("T:System.Other", "Another link text type."), // F:System.Other.Same repeats a text: kept once
        ], corpus.Documents.Select(d => (d.Member, d.Text)).ToArray());
        Assert.All(corpus.Documents, d => Assert.Equal(ReferencePackCorpus.SplitOf(d.Member), d.Split));
    }

    [Fact]
    public void Extraction_is_deterministic_and_independent_of_the_order_files_are_given_in()
    {
        string[] files = WriteFiles();
        ReferencePackCorpus forward = ReferencePackCorpus.FromFiles(files);
        ReferencePackCorpus backward = ReferencePackCorpus.FromFiles(files.Reverse());
        Assert.Equal(forward.Documents, backward.Documents);
        Assert.Equal(ReferencePackCorpus.Load(_directory).Documents, forward.Documents);
    }

    [Fact]
    public void Splits_come_from_a_stable_hash_of_the_member_name()
    {
        // 64-bit FNV-1a of the UTF-8 name modulo 1000; fixed values so that a change of the hash is noticed.
        Assert.Equal(CorpusSplit.Train, ReferencePackCorpus.SplitOf("T:System.String"));
        string[] names = Enumerable.Range(0, 20_000).Select(i => $"M:System.Type{i}.Method").ToArray();
        var counts = names.GroupBy(ReferencePackCorpus.SplitOf).ToDictionary(g => g.Key, g => g.Count());
        Assert.InRange(counts[CorpusSplit.Train], 17_600, 18_400);       // 90 %
        Assert.InRange(counts[CorpusSplit.Validation], 650, 950);        // 4 %
        Assert.InRange(counts[CorpusSplit.Calibration], 450, 750);       // 3 %
        Assert.InRange(counts[CorpusSplit.Evaluation], 450, 750);        // 3 %
        Assert.Equal(names.Select(ReferencePackCorpus.SplitOf), names.Select(ReferencePackCorpus.SplitOf));
    }

    [Fact]
    public void A_malformed_file_is_named_in_the_error()
    {
        string bad = Path.Combine(_directory, "Bad.xml");
        File.WriteAllText(bad, "<doc><members><member name=\"T:X\"><summary>unclosed</members></doc>");
        var error = Assert.Throws<InvalidDataException>(() => ReferencePackCorpus.FromFiles([bad]));
        Assert.Contains("Bad.xml", error.Message, StringComparison.Ordinal);
    }

    [ReferencePackFact]
    public void The_real_reference_pack_gives_megabytes_of_text_in_four_disjoint_splits()
    {
        ReferencePackCorpus corpus = ReferencePackCorpus.Load();
        Assert.True(corpus.Documents.Count > 10_000, $"{corpus.Documents.Count} documents");
        Assert.True(corpus.ByteCount > 2_000_000, $"{corpus.ByteCount} bytes");
        Assert.Equal(corpus.Documents.Count, corpus.Documents.Select(d => d.Member).Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(corpus.Documents.Count, corpus.Documents.Select(d => d.Text).Distinct(StringComparer.Ordinal).Count());
        var splits = Enum.GetValues<CorpusSplit>().ToDictionary(s => s, s => corpus.Texts(s).ToHashSet(StringComparer.Ordinal));
        Assert.All(splits.Values, texts => Assert.True(texts.Count > 500));
        Assert.Empty(splits[CorpusSplit.Calibration].Intersect(splits[CorpusSplit.Evaluation]));
        Assert.Empty(splits[CorpusSplit.Train].Intersect(splits[CorpusSplit.Evaluation]));
        Assert.Empty(splits[CorpusSplit.Train].Intersect(splits[CorpusSplit.Calibration]));
        Assert.Empty(splits[CorpusSplit.Train].Intersect(splits[CorpusSplit.Validation]));
        // The calibration code's own check agrees: the splits feed CalibrationData and the evaluators as document lists.
        CalibrationData.EnsureDisjoint(corpus.Texts(CorpusSplit.Calibration), corpus.Texts(CorpusSplit.Evaluation));
        Assert.DoesNotContain(corpus.Documents, d => d.Text.Contains("cref=", StringComparison.Ordinal) || d.Text.Contains("<see", StringComparison.Ordinal));

        // Deterministic: one file read again gives the same documents, in the same order.
        string file = Directory.GetFiles(corpus.Source, "System.Runtime.xml").Single();
        var again = ReferencePackCorpus.FromFiles([file]).Documents.Select(d => d.Member).ToArray();
        var again2 = ReferencePackCorpus.FromFiles([file]).Documents.Select(d => d.Member).ToArray();
        Assert.Equal(again, again2);
        Assert.True(again.Length > 1000);
    }
}
