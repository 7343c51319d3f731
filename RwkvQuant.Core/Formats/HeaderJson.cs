using System.Text.Json;

namespace RwkvQuant.Formats;

/// <summary>
/// Parses JSON held in a model file's header (the safetensors header, the <c>.rwkvq</c> metadata) so that reading it
/// afterwards cannot fail. <see cref="JsonDocument"/> decodes names and strings only when they are read, and then throws
/// an <see cref="InvalidOperationException"/> for bytes that are not UTF-8 or an escape that is half a surrogate pair;
/// here every name and string is decoded once up front, and any such fault becomes an
/// <see cref="InvalidDataException"/> naming the file.
/// </summary>
internal static class HeaderJson
{
    /// <summary>Parses <paramref name="utf8"/>, the <paramref name="what"/> (e.g. "header") of the file <paramref name="path"/>.</summary>
    /// <exception cref="InvalidDataException">Not JSON, nested deeper than <paramref name="maxDepth"/>, or holding text that does not decode.</exception>
    public static JsonDocument Parse(ReadOnlyMemory<byte> utf8, int maxDepth, string path, string what) =>
        Parse(options => JsonDocument.Parse(utf8, options), maxDepth, path, what);

    /// <summary>Parses <paramref name="text"/>, the <paramref name="what"/> (e.g. "metadata config") of the file <paramref name="path"/>.</summary>
    /// <exception cref="InvalidDataException">Not JSON, nested deeper than <paramref name="maxDepth"/>, or holding text that does not decode.</exception>
    public static JsonDocument Parse(string text, int maxDepth, string path, string what) =>
        Parse(options => JsonDocument.Parse(text, options), maxDepth, path, what);

    private static JsonDocument Parse(Func<JsonDocumentOptions, JsonDocument> parse, int maxDepth, string path, string what)
    {
        JsonDocument document;
        try
        {
            document = parse(new JsonDocumentOptions { MaxDepth = maxDepth });
        }
        catch (JsonException exception)
        {
            throw ModelFileError.Create(path, null, $"{what} is not valid JSON: {exception.Message}", exception);
        }
        return Checked(document, path, what);
    }

    private static JsonDocument Checked(JsonDocument document, string path, string what)
    {
        try
        {
            DecodeStrings(document.RootElement);
            return document;
        }
        catch (InvalidOperationException exception)
        {
            document.Dispose();
            throw ModelFileError.Create(path, null, $"{what} holds a name or string that is not valid Unicode: {exception.Message}", exception);
        }
    }

    /// <summary>Decodes every name and string under <paramref name="element"/> (recursion is bounded by the parse's depth limit).</summary>
    private static void DecodeStrings(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (JsonProperty property in element.EnumerateObject())
                {
                    _ = property.Name;
                    DecodeStrings(property.Value);
                }
                break;
            case JsonValueKind.Array:
                foreach (JsonElement item in element.EnumerateArray())
                    DecodeStrings(item);
                break;
            case JsonValueKind.String:
                _ = element.GetString();
                break;
        }
    }
}
