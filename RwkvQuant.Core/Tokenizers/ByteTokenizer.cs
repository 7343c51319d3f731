using System.Text;

namespace RwkvQuant.Tokenizers;

/// <summary>One token per UTF-8 byte of the text (vocabulary 256), as the byte-level rwkv.cpp fixtures use.</summary>
public sealed class ByteTokenizer : ITokenizer
{
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    /// <summary>The shared instance (the tokenizer is stateless).</summary>
    public static ByteTokenizer Instance { get; } = new();

    /// <inheritdoc />
    public int VocabularySize => 256;

    /// <inheritdoc />
    public int? EndOfTextToken => null;

    /// <inheritdoc />
    public Encoding TextEncoding => Utf8;

    /// <inheritdoc />
    /// <remarks>Ill-formed UTF-16 (a lone surrogate) encodes as U+FFFD, so only well-formed text round-trips.</remarks>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return ByteTokens.FromBytes(Utf8.GetBytes(text));
    }

    /// <inheritdoc />
    public byte[] DecodeBytes(ReadOnlySpan<int> tokens) => ByteTokens.ToBytes(tokens);

    /// <inheritdoc />
    public string Decode(ReadOnlySpan<int> tokens) => Utf8.GetString(ByteTokens.ToBytes(tokens));
}
