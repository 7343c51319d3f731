using System.Text;
using System.Text.Json;

namespace RwkvQuant.Corpora;

/// <summary>Reads evaluation text: JSON Lines documents (LAMBADA's <c>lambada_test.jsonl</c>) or a plain text file.</summary>
public static class TextCorpus
{
    /// <summary>
    /// Reads <paramref name="path"/>: a <c>.jsonl</c> file gives one document per non-empty line (the line's
    /// <c>text</c> string field); any other file is one document, its whole UTF-8 text.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="range">For JSON Lines, the documents to keep (inclusive indices counted over non-empty
    /// lines); null keeps all. Not allowed for plain text.</param>
    /// <exception cref="InvalidDataException">A line is not a JSON object with a string <c>text</c> field (the
    /// message names file and line), or the range reaches past the last document.</exception>
    public static IReadOnlyList<string> Load(string path, DocumentRange? range = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (IsJsonLines(path))
            return LoadJsonLines(path, range);
        if (range is not null)
            throw new ArgumentException($"A document range applies to .jsonl files; '{path}' is plain text (one document).", nameof(range));
        return [File.ReadAllText(path, Encoding.UTF8)];
    }

    /// <summary>Whether <see cref="Load"/> reads <paramref name="path"/> as JSON Lines (by its extension).</summary>
    public static bool IsJsonLines(string path) =>
        path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".ndjson", StringComparison.OrdinalIgnoreCase);

    private static List<string> LoadJsonLines(string path, DocumentRange? range)
    {
        var documents = new List<string>();
        int lineNumber = 0;
        int index = -1;
        foreach (string line in File.ReadLines(path, Encoding.UTF8))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
                continue;
            index++;
            if (range is { } r && (index < r.First || index > r.Last))
                continue;
            documents.Add(ReadText(path, lineNumber, line));
        }
        if (range is { } wanted && index < wanted.Last)
            throw new InvalidDataException($"{path}: documents {wanted} were asked for, but the file has {index + 1} (0..{index}).");
        return documents;
    }

    private static string ReadText(string path, int lineNumber, string line)
    {
        try
        {
            using var json = JsonDocument.Parse(line);
            if (json.RootElement.ValueKind == JsonValueKind.Object
                && json.RootElement.TryGetProperty("text", out JsonElement text)
                && text.ValueKind == JsonValueKind.String)
                return text.GetString()!;
        }
        catch (JsonException exception)
        {
            throw new InvalidDataException($"{path}: line {lineNumber}: not valid JSON ({exception.Message}).", exception);
        }
        throw new InvalidDataException($"{path}: line {lineNumber}: expected a JSON object with a string \"text\" field.");
    }
}
