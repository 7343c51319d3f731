using System.Text;

namespace RwkvQuant.Tokenizers;

/// <summary>
/// One token per byte of the text's UTF-16LE encoding (two per UTF-16 code unit, no byte order mark; vocabulary
/// 256). The tiny RWKV-6 fixtures were trained on English text encoded this way.
/// </summary>
public sealed class Utf16LeByteTokenizer : ITokenizer
{
    private static readonly UnicodeEncoding Utf16Le = new(bigEndian: false, byteOrderMark: false, throwOnInvalidBytes: false);

    /// <summary>The shared instance (the tokenizer is stateless).</summary>
    public static Utf16LeByteTokenizer Instance { get; } = new();

    /// <inheritdoc />
    public int VocabularySize => 256;

    /// <inheritdoc />
    public int? EndOfTextToken => null;

    /// <inheritdoc />
    public Encoding TextEncoding => Utf16Le;

    /// <inheritdoc />
    /// <remarks>Ill-formed UTF-16 (a lone surrogate) encodes as U+FFFD, so only well-formed text round-trips.</remarks>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return ByteTokens.FromBytes(Utf16Le.GetBytes(text));
    }

    /// <inheritdoc />
    public byte[] DecodeBytes(ReadOnlySpan<int> tokens) => ByteTokens.ToBytes(tokens);

    /// <inheritdoc />
    public string Decode(ReadOnlySpan<int> tokens) => Utf16Le.GetString(ByteTokens.ToBytes(tokens));
}
