namespace RwkvQuant.Tokenizers;

/// <summary>Shared code of the byte-level tokenizers: a token is a byte value.</summary>
internal static class ByteTokens
{
    public static int[] FromBytes(ReadOnlySpan<byte> bytes)
    {
        var tokens = new int[bytes.Length];
        for (int i = 0; i < bytes.Length; i++)
            tokens[i] = bytes[i];
        return tokens;
    }

    public static byte[] ToBytes(ReadOnlySpan<int> tokens)
    {
        var bytes = new byte[tokens.Length];
        for (int i = 0; i < tokens.Length; i++)
        {
            int token = tokens[i];
            if ((uint)token > 255)
                throw new ArgumentOutOfRangeException(nameof(tokens), token, $"Token {i} is {token}; byte tokens are 0 to 255.");
            bytes[i] = (byte)token;
        }
        return bytes;
    }
}
