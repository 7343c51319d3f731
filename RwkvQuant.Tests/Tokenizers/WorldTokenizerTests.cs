using CsCheck;
using RwkvQuant.Tokenizers;

namespace RwkvQuant.Tests.Tokenizers;

public class WorldTokenizerTests
{
    private static readonly Lazy<WorldTokenizer> World =
        new(() => WorldTokenizer.Load(Fixtures.Path("tokenizers", "rwkv_vocab_v20230424.txt")));

    // Expected ids from an independent longest-match over the vocabulary file in Python (ast.literal_eval per line).
    [FixtureTheory]
    [InlineData("Hello world", new[] { 33155, 40213 })]
    [InlineData("The quick brown fox", new[] { 6699, 39418, 37917, 21704 })]
    [InlineData("中文测试", new[] { 10285, 13012, 13827, 16707 })]
    [InlineData("🙂 emoji", new[] { 3319, 2417, 38362 })]
    [InlineData("\n\n  x", new[] { 19241, 121 })]
    public void Encodes_known_texts_by_longest_match(string text, int[] expected)
    {
        Assert.Equal(expected, World.Value.Encode(text));
        Assert.Equal(text, World.Value.Decode(expected));
    }

    [FixtureFact]
    public void Vocabulary_matches_the_file()
    {
        WorldTokenizer world = World.Value;
        Assert.Equal(65530, world.VocabularySize);
        Assert.Equal(0, world.EndOfTextToken);
        Assert.Equal("\t\t"u8.ToArray(), world.TokenBytes(257).ToArray());        // 257 '\t\t' 2
        Assert.Equal(new byte[] { 0xff }, world.TokenBytes(256).ToArray());      // 256 b'\xff' 1
        Assert.Equal(new string(' ', 128), world.Decode([65529]));
        Assert.Equal("\u2002"u8.ToArray(), world.TokenBytes(9804).ToArray());   // 9804 '\u2002' 3
        Assert.Empty(world.DecodeBytes([0]));
    }

    [FixtureFact]
    public void Greedy_match_takes_the_longest_token_at_each_position()
    {
        WorldTokenizer world = World.Value;
        Gen.OneOf(ByteTokenizerTests.MixedText, ByteTokenizerTests.WellFormedText).Sample(text =>
        {
            int[] tokens = world.Encode(text);
            byte[] bytes = System.Text.Encoding.UTF8.GetBytes(text);
            int position = 0;
            foreach (int token in tokens)
            {
                int length = world.TokenBytes(token).Length;
                // No token of the vocabulary is a longer prefix of the remaining bytes.
                for (int longer = length + 1; longer <= Math.Min(128, bytes.Length - position); longer++)
                {
                    int[] single = world.EncodeBytes(bytes.AsSpan(position, longer));
                    Assert.False(single.Length == 1, $"token {single[0]} is a longer match than {token} at byte {position}");
                }
                position += length;
            }
        }, seed: "4bJ0uMfD1qX2", iter: 100);
    }

    [FixtureFact]
    public void Any_text_round_trips()
    {
        WorldTokenizer world = World.Value;
        Gen.OneOf(ByteTokenizerTests.MixedText, ByteTokenizerTests.WellFormedText).Sample(text =>
            Assert.Equal(text, world.Decode(world.Encode(text))), seed: "7Xa1c9dKq0Zs", iter: 2000);
    }

    [FixtureFact]
    public void Lone_continuation_bytes_decode_to_replacement_characters()
    {
        Assert.Equal("a\uFFFD", World.Value.Decode([98, 229])); // 'a' then the single byte 0xe4
    }

    [Theory]
    [InlineData("1 'a' 1\nx 'b' 1\n", 2, "not a positive integer")]
    [InlineData("1 'a' 2\n", 1, "has 1 bytes but the line says 2")]
    [InlineData("1 'a' 1\n2 'a\\q' 2\n", 2, "unsupported escape")]
    [InlineData("1 'a' 1\n1 'b' 1\n", 2, "appears twice")]
    [InlineData("1 'a' 1\n2 'a' 1\n", 2, "same bytes as token 1")]
    [InlineData("1 b'\\xe4' 1\n2 'ab 2\n", 2, "quoted Python")]
    [InlineData("1 'a'\n", 1, "expected 'id token_repr byte_length'")]
    [InlineData("1 'a' 1\n2 '\\x4' 1\n", 2, "hex digits")]
    public void Bad_lines_name_the_file_and_line(string content, int line, string message)
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, content);
            var exception = Assert.Throws<InvalidDataException>(() => WorldTokenizer.Load(path));
            Assert.Contains(path, exception.Message, StringComparison.Ordinal);
            Assert.Contains($"line {line}:", exception.Message, StringComparison.Ordinal);
            Assert.Contains(message, exception.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_vocabulary_without_every_single_byte_is_rejected()
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "1 'a' 1\n");
            var exception = Assert.Throws<InvalidDataException>(() => WorldTokenizer.Load(path));
            Assert.Contains("single byte 0x00", exception.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("'a\\'b'", new byte[] { 0x61, 0x27, 0x62 })]
    [InlineData("\"a'b\"", new byte[] { 0x61, 0x27, 0x62 })]
    [InlineData("'\\\\\\n\\t\\r'", new byte[] { 0x5c, 0x0a, 0x09, 0x0d })]
    [InlineData("'\\xe9'", new byte[] { 0xc3, 0xa9 })]             // str: U+00E9 → its UTF-8 bytes
    [InlineData("b'\\xe9'", new byte[] { 0xe9 })]                   // bytes: the raw byte
    [InlineData("'\\u4e2d'", new byte[] { 0xe4, 0xb8, 0xad })]
    [InlineData("'\\U0001f642'", new byte[] { 0xf0, 0x9f, 0x99, 0x82 })]
    [InlineData("'中'", new byte[] { 0xe4, 0xb8, 0xad })]
    public void Python_literals_decode_to_bytes(string literal, byte[] expected) =>
        Assert.Equal(expected, PythonLiteral.ParseBytes(literal));

    [Theory]
    [InlineData("'\\ud800'")]
    [InlineData("b'中'")]
    [InlineData("'a\\'")]
    [InlineData("abc")]
    public void Malformed_python_literals_are_rejected(string literal) =>
        Assert.Throws<FormatException>(() => PythonLiteral.ParseBytes(literal));
}
