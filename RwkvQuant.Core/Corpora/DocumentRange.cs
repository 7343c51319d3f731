using System.Globalization;

namespace RwkvQuant.Corpora;

/// <summary>
/// A range of document indices, <b>inclusive at both ends</b>: <c>0..127</c> is the first 128 documents and
/// <c>5000..5152</c> the 153 documents 5000 to 5152 (the last 153 of LAMBADA's 5153).
/// </summary>
/// <param name="First">Index of the first document (0-based).</param>
/// <param name="Last">Index of the last document, included.</param>
public readonly record struct DocumentRange(int First, int Last)
{
    /// <summary>Number of documents in the range.</summary>
    public int Count => Last - First + 1;

    /// <summary>Parses <c>a..b</c> (inclusive), or a single index <c>a</c>.</summary>
    /// <exception cref="FormatException">Not of that form, negative, or <c>b &lt; a</c>.</exception>
    public static DocumentRange Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string[] parts = text.Split("..");
        if (parts.Length is 1 or 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int first)
            && int.TryParse(parts[^1], NumberStyles.None, CultureInfo.InvariantCulture, out int last))
        {
            if (last < first)
                throw new FormatException($"Document range '{text}' ends before it starts.");
            return new DocumentRange(first, last);
        }
        throw new FormatException($"Document range '{text}' is not of the form a..b (inclusive indices, e.g. 0..127).");
    }

    /// <inheritdoc />
    public override string ToString() => $"{First}..{Last}";
}
