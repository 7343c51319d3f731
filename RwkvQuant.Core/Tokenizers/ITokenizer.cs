using System.Text;

namespace RwkvQuant.Tokenizers;

/// <summary>
/// Turns text into token ids and back. Every tokenizer here is byte-based: a token stands for a byte string,
/// and the text is the <see cref="TextEncoding"/> decoding of the concatenated bytes, so well-formed text
/// round-trips exactly (<c>Decode(Encode(s)) == s</c>).
/// </summary>
public interface ITokenizer
{
    /// <summary>Number of token ids (ids run from 0 to <c>VocabularySize − 1</c>).</summary>
    int VocabularySize { get; }

    /// <summary>The id that marks end of text, or null when the vocabulary has none (byte tokenizers).</summary>
    int? EndOfTextToken { get; }

    /// <summary>
    /// The text encoding of the byte stream the tokens stand for. Decoding uses replacement fallback: an invalid
    /// byte sequence (e.g. a generated token that cuts a character in half) becomes U+FFFD instead of failing.
    /// Use <see cref="Encoding.GetDecoder"/> on it to decode a token stream incrementally.
    /// </summary>
    Encoding TextEncoding { get; }

    /// <summary>Token ids of <paramref name="text"/>.</summary>
    int[] Encode(string text);

    /// <summary>The bytes the tokens stand for (the end-of-text token stands for no bytes).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is outside the vocabulary.</exception>
    byte[] DecodeBytes(ReadOnlySpan<int> tokens);

    /// <summary>The text of the tokens: <see cref="TextEncoding"/> applied to <see cref="DecodeBytes"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is outside the vocabulary.</exception>
    string Decode(ReadOnlySpan<int> tokens);
}
