using System.Text;
using CsCheck;
using RwkvQuant.Tokenizers;

namespace RwkvQuant.Tests.Tokenizers;

public class ByteTokenizerTests
{
    internal static readonly Gen<string> WellFormedText =
        Gen.Int[0, 0x10FFFF].Where(c => c is < 0xD800 or > 0xDFFF)
            .Select(c => char.ConvertFromUtf32(c))
            .Array[0, 40]
            .Select(parts => string.Concat(parts));

    // Emoji, CJK, controls and ASCII mixed, so short strings hit multi-byte sequences often.
    internal static readonly Gen<string> MixedText =
        Gen.OneOf(
                Gen.Int[0, 0x7f],
                Gen.Int[0x4E00, 0x9FFF],
                Gen.Int[0x1F300, 0x1FAFF],
                Gen.Int[0x80, 0x7FF],
                Gen.Const(0x2002))
            .Select(c => char.ConvertFromUtf32(c))
            .Array[0, 60]
            .Select(parts => string.Concat(parts));

    [Fact]
    public void Utf8_tokens_are_the_utf8_bytes()
    {
        Assert.Equal([0x68, 0xC3, 0xA9, 0xF0, 0x9F, 0x99, 0x82], ByteTokenizer.Instance.Encode("hé🙂"));
        Assert.Equal(256, ByteTokenizer.Instance.VocabularySize);
        Assert.Null(ByteTokenizer.Instance.EndOfTextToken);
    }

    [Fact]
    public void Utf16le_tokens_are_the_utf16le_bytes_without_bom()
    {
        Assert.Equal([0x68, 0x00, 0xE9, 0x00, 0x3D, 0xD8, 0x42, 0xDE], Utf16LeByteTokenizer.Instance.Encode("hé🙂"));
        Assert.Equal("\"in", Utf16LeByteTokenizer.Instance.Decode([34, 0, 105, 0, 110, 0]));
    }

    [Fact]
    public void Well_formed_text_round_trips()
    {
        Gen.OneOf(WellFormedText, MixedText).Sample(text =>
        {
            Assert.Equal(text, ByteTokenizer.Instance.Decode(ByteTokenizer.Instance.Encode(text)));
            Assert.Equal(text, Utf16LeByteTokenizer.Instance.Decode(Utf16LeByteTokenizer.Instance.Encode(text)));
        }, seed: "0N0XIzNsQ0O2", iter: 2000);
    }

    [Fact]
    public void Invalid_byte_sequences_decode_to_replacement_characters()
    {
        Assert.Equal("a\uFFFDb", ByteTokenizer.Instance.Decode([0x61, 0xE4, 0xB8, 0x62]));
        Assert.Equal("\uFFFD", ByteTokenizer.Instance.Decode([0xFF]));
        Assert.Equal("a\uFFFD", Utf16LeByteTokenizer.Instance.Decode([0x61, 0x00, 0x3D, 0xD8])); // lone high surrogate
    }

    [Fact]
    public void Streaming_decoder_joins_a_character_split_across_tokens()
    {
        Decoder decoder = ByteTokenizer.Instance.TextEncoding.GetDecoder();
        var text = new StringBuilder();
        foreach (int token in ByteTokenizer.Instance.Encode("中🙂"))
        {
            byte[] bytes = ByteTokenizer.Instance.DecodeBytes([token]);
            var chars = new char[decoder.GetCharCount(bytes, flush: false)];
            decoder.GetChars(bytes, chars, flush: false);
            text.Append(chars);
        }
        Assert.Equal("中🙂", text.ToString());
    }

    [Fact]
    public void Out_of_range_tokens_throw()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ByteTokenizer.Instance.Decode([256]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Utf16LeByteTokenizer.Instance.DecodeBytes([-1]));
    }
}
