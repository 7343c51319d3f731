using System.Globalization;
using System.Text;

namespace RwkvQuant.Tokenizers;

/// <summary>
/// Parses the subset of Python literals the RWKV vocabulary files use: a <c>str</c> (<c>'abc'</c>, <c>"a'b"</c>)
/// whose value is taken as its UTF-8 bytes, or a <c>bytes</c> literal (<c>b'\xe4\xb8'</c>), with the escapes
/// <c>\\ \' \" \n \t \r \0 \a \b \f \v \xNN \uNNNN \UNNNNNNNN</c>.
/// </summary>
internal static class PythonLiteral
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The bytes of the literal; throws <see cref="FormatException"/> describing what is wrong.</summary>
    public static byte[] ParseBytes(ReadOnlySpan<char> literal)
    {
        bool isBytes = literal.Length > 0 && literal[0] == 'b';
        ReadOnlySpan<char> quoted = isBytes ? literal[1..] : literal;
        if (quoted.Length < 2 || quoted[0] is not ('\'' or '"') || quoted[^1] != quoted[0])
            throw new FormatException($"expected a quoted Python str or bytes literal, got {literal.ToString()}");
        char quote = quoted[0];
        ReadOnlySpan<char> body = quoted[1..^1];

        var bytes = new List<byte>(body.Length);
        var text = new StringBuilder(body.Length);
        for (int i = 0; i < body.Length; i++)
        {
            char c = body[i];
            if (c == quote)
                throw new FormatException($"unescaped {quote} inside the literal at character {i + 1}");
            if (c != '\\')
            {
                if (isBytes && c > 0x7f)
                    throw new FormatException($"non-ASCII character U+{(int)c:X4} in a bytes literal");
                Append(c);
                continue;
            }
            if (++i >= body.Length)
                throw new FormatException("the literal ends with a lone backslash");
            char e = body[i];
            switch (e)
            {
                case '\\' or '\'' or '"': Append(e); break;
                case 'n': Append('\n'); break;
                case 't': Append('\t'); break;
                case 'r': Append('\r'); break;
                case '0': Append('\0'); break;
                case 'a': Append('\a'); break;
                case 'b': Append('\b'); break;
                case 'f': Append('\f'); break;
                case 'v': Append('\v'); break;
                case 'x':
                    {
                        int value = Hex(body, ref i, 2);
                        if (isBytes)
                            bytes.Add((byte)value);
                        else
                            text.Append((char)value);
                        break;
                    }
                case 'u' or 'U' when !isBytes:
                    {
                        int value = Hex(body, ref i, e == 'u' ? 4 : 8);
                        if (value is >= 0xD800 and <= 0xDFFF)
                            throw new FormatException($"escape names the surrogate U+{value:X4}, which has no UTF-8 form");
                        text.Append(char.ConvertFromUtf32(value));
                        break;
                    }
                default:
                    throw new FormatException($"unsupported escape \\{e}");
            }
        }
        if (isBytes)
            return [.. bytes];
        try
        {
            return StrictUtf8.GetBytes(text.ToString());
        }
        catch (EncoderFallbackException exception)
        {
            throw new FormatException("the str literal is not well-formed Unicode (lone surrogate)", exception);
        }

        void Append(char c)
        {
            if (isBytes)
                bytes.Add((byte)c);
            else
                text.Append(c);
        }
    }

    private static int Hex(ReadOnlySpan<char> body, ref int i, int digits)
    {
        char kind = body[i];
        if (i + digits >= body.Length)
            throw new FormatException($"escape \\{kind} needs {digits} hex digits");
        ReadOnlySpan<char> digitsText = body.Slice(i + 1, digits);
        if (!uint.TryParse(digitsText, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint value) || value > 0x10FFFF)
            throw new FormatException($"escape \\{kind}{digitsText.ToString()} is not a hex value up to 10FFFF");
        i += digits;
        return (int)value;
    }
}
