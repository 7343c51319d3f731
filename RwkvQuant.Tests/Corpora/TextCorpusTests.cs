using RwkvQuant.Corpora;

namespace RwkvQuant.Tests.Corpora;

public class TextCorpusTests
{
    [Theory]
    [InlineData("0..127", 0, 127, 128)]
    [InlineData("5000..5152", 5000, 5152, 153)]
    [InlineData("7", 7, 7, 1)]
    public void Ranges_are_inclusive(string text, int first, int last, int count)
    {
        DocumentRange range = DocumentRange.Parse(text);
        Assert.Equal(new DocumentRange(first, last), range);
        Assert.Equal(count, range.Count);
    }

    [Theory]
    [InlineData("5..3")]
    [InlineData("-1..3")]
    [InlineData("a..b")]
    [InlineData("1...3")]
    [InlineData("")]
    public void Bad_ranges_are_rejected(string text) => Assert.Throws<FormatException>(() => DocumentRange.Parse(text));

    [FixtureFact]
    public void Lambada_has_5153_documents_and_the_range_selects_the_last_153()
    {
        string path = Fixtures.Path("text", "lambada_test.jsonl");
        Assert.Equal(5153, TextCorpus.Load(path).Count);
        IReadOnlyList<string> tail = TextCorpus.Load(path, DocumentRange.Parse("5000..5152"));
        Assert.Equal(153, tail.Count);
        Assert.StartsWith("In my palm is a clear stone", TextCorpus.Load(path, new DocumentRange(0, 0))[0], StringComparison.Ordinal);
        Assert.Throws<InvalidDataException>(() => TextCorpus.Load(path, DocumentRange.Parse("5000..5153")));
    }

    [Fact]
    public void Bad_json_lines_name_the_file_and_line()
    {
        string path = Path.Combine(Path.GetTempPath(), $"corpus-{Guid.NewGuid():N}.jsonl");
        try
        {
            File.WriteAllText(path, "{\"text\": \"a\"}\n\n{\"txt\": \"b\"}\n");
            var exception = Assert.Throws<InvalidDataException>(() => TextCorpus.Load(path));
            Assert.Contains($"{path}: line 3:", exception.Message, StringComparison.Ordinal);
            File.WriteAllText(path, "{\"text\": \"a\"}\n{oops\n");
            exception = Assert.Throws<InvalidDataException>(() => TextCorpus.Load(path));
            Assert.Contains($"{path}: line 2: not valid JSON", exception.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Plain_text_is_one_document_and_takes_no_range()
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "line one\nline two\n");
            Assert.Equal(["line one\nline two\n"], TextCorpus.Load(path));
            Assert.Throws<ArgumentException>(() => TextCorpus.Load(path, new DocumentRange(0, 0)));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
