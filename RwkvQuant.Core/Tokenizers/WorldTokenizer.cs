using System.Globalization;
using System.Text;

namespace RwkvQuant.Tokenizers;

/// <summary>
/// The RWKV World tokenizer: a vocabulary of byte strings (<c>rwkv_vocab_v20230424.txt</c>, ids 1 to 65529;
/// id 0 is end of text) and greedy longest match over the UTF-8 bytes of the text, found with a byte trie.
/// Every single byte is a token, so any text encodes, and decoding concatenates the tokens' bytes.
/// </summary>
public sealed class WorldTokenizer : ITokenizer
{
    /// <summary>The end-of-text id (it stands for no bytes).</summary>
    public const int EndOfText = 0;

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    private readonly byte[][] _tokens;      // id → bytes; _tokens[0] is empty
    private readonly ByteTrie _trie;

    private WorldTokenizer(byte[][] tokens, ByteTrie trie)
    {
        _tokens = tokens;
        _trie = trie;
    }

    /// <summary>
    /// Loads a vocabulary file: one token per line, <c>id token_repr byte_length</c>, where <c>token_repr</c> is a
    /// Python <c>str</c> literal (its UTF-8 bytes) or <c>bytes</c> literal, and <c>byte_length</c> must equal the
    /// number of bytes. Ids must be distinct and positive, and every single byte must be a token.
    /// </summary>
    /// <exception cref="InvalidDataException">A malformed line (the message names the file and the line number).</exception>
    public static WorldTokenizer Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var byId = new Dictionary<int, byte[]>();
        var trie = new ByteTrie();
        int lineNumber = 0;
        int maxId = 0;
        foreach (string line in File.ReadLines(path, Encoding.UTF8))
        {
            lineNumber++;
            if (line.Length == 0)
                continue;
            int first = line.IndexOf(' ', StringComparison.Ordinal);
            int last = line.LastIndexOf(' ');
            if (first <= 0 || last <= first + 1)
                throw LineError(path, lineNumber, "expected 'id token_repr byte_length'.");
            if (!int.TryParse(line.AsSpan(0, first), NumberStyles.None, CultureInfo.InvariantCulture, out int id) || id == EndOfText)
                throw LineError(path, lineNumber, $"the id '{line[..first]}' is not a positive integer.");
            if (!int.TryParse(line.AsSpan(last + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int length))
                throw LineError(path, lineNumber, $"the byte length '{line[(last + 1)..]}' is not a non-negative integer.");
            byte[] bytes;
            try
            {
                bytes = PythonLiteral.ParseBytes(line.AsSpan(first + 1, last - first - 1));
            }
            catch (FormatException exception)
            {
                throw LineError(path, lineNumber, $"bad token literal: {exception.Message}.");
            }
            if (bytes.Length != length)
                throw LineError(path, lineNumber, $"the token has {bytes.Length} bytes but the line says {length}.");
            if (bytes.Length == 0)
                throw LineError(path, lineNumber, "the token is empty.");
            if (!byId.TryAdd(id, bytes))
                throw LineError(path, lineNumber, $"id {id} appears twice.");
            if (!trie.TryAdd(bytes, id, out int existing))
                throw LineError(path, lineNumber, $"token {id} has the same bytes as token {existing}.");
            maxId = Math.Max(maxId, id);
        }
        for (int b = 0; b < 256; b++)
        {
            if (!trie.ContainsSingleByte((byte)b))
                throw new InvalidDataException($"{path}: the vocabulary has no token for the single byte 0x{b:x2}, so some text cannot be encoded.");
        }
        var tokens = new byte[maxId + 1][];
        tokens[EndOfText] = [];
        foreach ((int id, byte[] bytes) in byId)
            tokens[id] = bytes;
        for (int id = 1; id <= maxId; id++)
        {
            if (tokens[id] is null)
                throw new InvalidDataException($"{path}: the vocabulary has no token with id {id} (ids must run from 1 to {maxId} without gaps).");
        }
        return new WorldTokenizer(tokens, trie);
    }

    /// <inheritdoc />
    /// <remarks>One more than the largest id in the file (65530 for the v20230424 vocabulary); World models pad
    /// their embedding to 65536 rows.</remarks>
    public int VocabularySize => _tokens.Length;

    /// <inheritdoc />
    public int? EndOfTextToken => EndOfText;

    /// <inheritdoc />
    public Encoding TextEncoding => Utf8;

    /// <summary>The bytes of one token.</summary>
    public ReadOnlySpan<byte> TokenBytes(int token) => (uint)token < (uint)_tokens.Length
        ? _tokens[token]
        : throw new ArgumentOutOfRangeException(nameof(token), token, $"Token ids are 0 to {_tokens.Length - 1}.");

    /// <inheritdoc />
    /// <remarks>Ill-formed UTF-16 (a lone surrogate) encodes as U+FFFD, so only well-formed text round-trips.</remarks>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return EncodeBytes(Utf8.GetBytes(text));
    }

    /// <summary>Greedy longest match over <paramref name="bytes"/>.</summary>
    public int[] EncodeBytes(ReadOnlySpan<byte> bytes)
    {
        var tokens = new List<int>(bytes.Length / 3 + 1);
        int position = 0;
        while (position < bytes.Length)
        {
            (int token, int length) = _trie.LongestMatch(bytes[position..]);
            tokens.Add(token); // every single byte is a token (checked on load), so length ≥ 1
            position += length;
        }
        return [.. tokens];
    }

    /// <inheritdoc />
    public byte[] DecodeBytes(ReadOnlySpan<int> tokens)
    {
        int total = 0;
        foreach (int token in tokens)
            total += TokenBytes(token).Length;
        var bytes = new byte[total];
        int offset = 0;
        foreach (int token in tokens)
        {
            byte[] piece = _tokens[token];
            piece.CopyTo(bytes, offset);
            offset += piece.Length;
        }
        return bytes;
    }

    /// <inheritdoc />
    public string Decode(ReadOnlySpan<int> tokens) => Utf8.GetString(DecodeBytes(tokens));

    private static InvalidDataException LineError(string path, int line, string message) =>
        new($"{path}: line {line}: {message}");
}
