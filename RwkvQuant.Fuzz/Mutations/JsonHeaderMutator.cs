using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace RwkvQuant.Fuzz.Mutations;

/// <summary>
/// Mutates the JSON header of a safetensors file (a float model or a <c>.rwkvq</c>) as text: numbers set to extreme
/// values, shapes, offsets and dtypes changed, keys duplicated, removed or renamed, invalid UTF-8 or a lone surrogate put
/// into a string, deep nesting; for the JSON held inside metadata strings (the <c>.rwkvq</c> <c>config</c> and
/// <c>tensors</c>), the same mutations one level down. The file is rebuilt with the new header's length and the original
/// data section.
/// </summary>
internal static class JsonHeaderMutator
{
    private static readonly string[] Numbers =
    [
        "0", "1", "-1", "2", "3", "2147483647", "2147483648", "4294967295", "4294967296", "9223372036854775807",
        "9223372036854775808", "18446744073709551615", "18446744073709551616", "-9223372036854775808", "1e308", "1e400",
        "-0", "0.5", "1.0e2", "99999999999999999999999999", "65536", "256", "-2147483648",
    ];

    private static readonly string[] Dtypes = ["F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL", "F8_E4M3", "Q4", "", "f32"];

    private static readonly string[] Shapes =
        ["[]", "[0]", "[1]", "[0, 0]", "[1, 1, 1, 1, 1, 1, 1, 1, 1]", "[2147483647, 2147483647]", "[4294967296]", "[-1]", "[1.5]", "[\"1\"]", "[null]", "{}", "7"];

    private static readonly byte[][] BadText =
        [[0xFF], [0xC3, 0x28], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xC0, 0x80], [0xE2, 0x82], "\\ud800"u8.ToArray(), "\\udc00x"u8.ToArray(), "\\u0000"u8.ToArray()];

    private sealed record Token(JsonTokenType Type, int Start, int End, int Depth, string? Text);

    /// <summary>Mutates the header of <paramref name="file"/> (a safetensors file); returns the new file and a description.</summary>
    public static (byte[] Bytes, string Detail) Mutate(byte[] file, Random random)
    {
        long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(file);
        byte[] header = file[8..(int)(8 + headerLength)];
        (byte[] mutated, string detail) = random.Next(4) == 0 ? MutateNested(header, random) : MutateText(header, random);
        var output = new byte[8 + mutated.Length + file.Length - 8 - headerLength];
        BinaryPrimitives.WriteUInt64LittleEndian(output, (ulong)mutated.Length);
        mutated.CopyTo(output, 8);
        file.AsSpan((int)(8 + headerLength)).CopyTo(output.AsSpan(8 + mutated.Length));
        return (output, detail);
    }

    /// <summary>Mutates the JSON inside one of the metadata strings, if there is one that parses as JSON.</summary>
    private static (byte[], string) MutateNested(byte[] header, Random random)
    {
        List<Token> tokens = Tokens(header);
        Token[] nested = tokens.Where(t => t.Type == JsonTokenType.String && t.Text is { Length: > 1 } text && text[0] is '{' or '[').ToArray();
        if (nested.Length == 0)
            return MutateText(header, random);
        Token target = nested[random.Next(nested.Length)];
        (byte[] inner, string detail) = MutateText(Encoding.UTF8.GetBytes(target.Text!), random);
        // The inner text may hold bytes that are not UTF-8; they become U+FFFD here, where a string cannot hold them.
        byte[] encoded = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(Encoding.UTF8.GetString(inner)));
        int key = tokens.IndexOf(target) - 1;
        string name = key >= 0 && tokens[key].Type == JsonTokenType.PropertyName ? tokens[key].Text! : "?";
        return (Splice(header, target.Start, target.End - target.Start, encoded), $"metadata '{name}': {detail}");
    }

    private static (byte[], string) MutateText(byte[] json, Random random)
    {
        List<Token> tokens = Tokens(json);
        if (tokens.Count == 0)
            return (json[..(json.Length / 2)], "cut in half");
        switch (random.Next(9))
        {
            case 0:
            case 1:
            {
                Token[] numbers = tokens.Where(t => t.Type == JsonTokenType.Number).ToArray();
                if (numbers.Length == 0)
                    goto default;
                Token number = numbers[random.Next(numbers.Length)];
                string value = Numbers[random.Next(Numbers.Length)];
                return (Replace(json, number, value), $"number at {number.Start} '{Encoding.UTF8.GetString(json, number.Start, number.End - number.Start)}' -> {value}");
            }
            case 2:
            {
                (Token? array, string field) = ValueOf(tokens, random, "shape", "data_offsets", "shape_in_file");
                if (array is null)
                    goto default;
                string value = field == "data_offsets" ? Offsets(json, array, random) : Shape(json, array, random);
                return (Replace(json, array, value), $"'{field}' at {array.Start} -> {value}");
            }
            case 3:
            {
                (Token? dtype, _) = ValueOf(tokens, random, "dtype", "scheme", "layout", "version", "format");
                if (dtype is null)
                    goto default;
                string value = JsonSerializer.Serialize(Dtypes[random.Next(Dtypes.Length)]);
                return (Replace(json, dtype, value), $"'{dtype.Text}' at {dtype.Start} -> {value}");
            }
            case 4:
            {
                Token name = Pick(tokens, random, t => t.Type == JsonTokenType.PropertyName);
                Token value = tokens[tokens.IndexOf(name) + 1];
                byte[] pair = json[name.Start..value.End];
                return (Splice(json, value.End, 0, [.. ","u8, .. pair]), $"key '{name.Text}' at {name.Start} duplicated");
            }
            case 5:
            {
                Token name = Pick(tokens, random, t => t.Type == JsonTokenType.PropertyName);
                Token value = tokens[tokens.IndexOf(name) + 1];
                int start = name.Start, end = value.End;
                int after = Skip(json, end);
                if (after < json.Length && json[after] == ',')
                    end = after + 1;
                else
                {
                    int before = start - 1;
                    while (before > 0 && json[before] is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t')
                        before--;
                    if (json[before] == ',')
                        start = before;
                }
                return (Splice(json, start, end - start, []), $"key '{name.Text}' at {name.Start} removed");
            }
            case 6:
            {
                Token name = Pick(tokens, random, t => t.Type == JsonTokenType.PropertyName);
                string renamed = random.Next(3) switch
                {
                    0 => name.Text + "x",
                    1 => tokens.Where(t => t.Type == JsonTokenType.PropertyName).ElementAt(random.Next(tokens.Count(t => t.Type == JsonTokenType.PropertyName))).Text!,
                    _ => "",
                };
                return (Replace(json, name, JsonSerializer.Serialize(renamed)), $"key '{name.Text}' at {name.Start} renamed '{renamed}'");
            }
            case 7:
            {
                Token text = Pick(tokens, random, t => t.Type is JsonTokenType.String or JsonTokenType.PropertyName);
                byte[] bad = BadText[random.Next(BadText.Length)];
                int at = text.Start + 1 + random.Next(Math.Max(1, text.End - text.Start - 2));
                return (Splice(json, at, 0, bad), $"bytes {Convert.ToHexString(bad)} inserted at {at} in '{text.Text}'");
            }
            default:
            {
                Token value = Pick(tokens, random, t => t.Type is JsonTokenType.StartObject or JsonTokenType.StartArray or JsonTokenType.String or JsonTokenType.Number);
                int depth = random.Next(2) == 0 ? random.Next(1, 4) : random.Next(8, 200);
                byte[] wrapped = [.. Enumerable.Repeat((byte)'[', depth), .. json.AsSpan(value.Start, value.End - value.Start), .. Enumerable.Repeat((byte)']', depth)];
                return (Splice(json, value.Start, value.End - value.Start, wrapped), string.Create(CultureInfo.InvariantCulture, $"value at {value.Start} nested {depth} arrays deep"));
            }
        }
    }

    private static string Shape(byte[] json, Token array, Random random)
    {
        long[] dims = Integers(json, array) ?? [];
        return random.Next(6) switch
        {
            0 => Shapes[random.Next(Shapes.Length)],
            1 when dims.Length > 0 => Format([.. dims.Reverse()]),
            2 when dims.Length > 0 => Format(dims[..^1]),
            3 => Format([.. dims, 1]),
            4 when dims.Length > 0 => Format([.. dims.Select((d, i) => i == 0 ? d * 2 : d)]),
            _ when dims.Length > 0 => Format([.. dims.Select((d, i) => i == dims.Length - 1 ? d + 1 : d)]),
            _ => "[1]",
        };
    }

    private static string Offsets(byte[] json, Token array, Random random)
    {
        long[]? offsets = Integers(json, array);
        if (offsets is not { Length: 2 })
            return "[0, 0]";
        long begin = offsets[0], end = offsets[1];
        return random.Next(7) switch
        {
            0 => Format([end, begin]),
            1 => Format([begin + 1, end + 1]),
            2 => Format([begin, end + 1]),
            3 => Format([begin, end - 1]),
            4 => Format([0, end - begin]),
            5 => Format([begin]),
            _ => Format([begin, end, end]),
        };
    }

    private static long[]? Integers(byte[] json, Token array)
    {
        try
        {
            return JsonSerializer.Deserialize<long[]>(json.AsSpan(array.Start, array.End - array.Start));
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string Format(long[] values) => "[" + string.Join(",", values.Select(v => v.ToString(CultureInfo.InvariantCulture))) + "]";

    /// <summary>The value of a property named one of <paramref name="names"/>, chosen at random.</summary>
    private static (Token? Value, string Name) ValueOf(List<Token> tokens, Random random, params string[] names)
    {
        int[] indices = Enumerable.Range(0, tokens.Count - 1).Where(i => tokens[i].Type == JsonTokenType.PropertyName && names.Contains(tokens[i].Text)).ToArray();
        if (indices.Length == 0)
            return (null, "");
        int index = indices[random.Next(indices.Length)];
        return (tokens[index + 1], tokens[index].Text!);
    }

    private static Token Pick(List<Token> tokens, Random random, Func<Token, bool> where)
    {
        Token[] candidates = tokens.Where(where).ToArray();
        return candidates.Length > 0 ? candidates[random.Next(candidates.Length)] : tokens[random.Next(tokens.Count)];
    }

    /// <summary>The tokens of well-formed JSON; a value's end is the end of its closing bracket or quote.</summary>
    private static List<Token> Tokens(byte[] json)
    {
        var tokens = new List<Token>();
        var open = new Stack<int>();
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 256 });
        try
        {
            while (reader.Read())
            {
                int start = (int)reader.TokenStartIndex;
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject or JsonTokenType.StartArray:
                        open.Push(tokens.Count);
                        tokens.Add(new Token(reader.TokenType, start, start + 1, reader.CurrentDepth, null));
                        break;
                    case JsonTokenType.EndObject or JsonTokenType.EndArray:
                        int index = open.Pop();
                        tokens[index] = tokens[index] with { End = start + 1 };
                        break;
                    case JsonTokenType.String or JsonTokenType.PropertyName:
                        tokens.Add(new Token(reader.TokenType, start, start + reader.ValueSpan.Length + 2, reader.CurrentDepth, reader.GetString()));
                        break;
                    default:
                        tokens.Add(new Token(reader.TokenType, start, start + reader.ValueSpan.Length, reader.CurrentDepth, null));
                        break;
                }
            }
        }
        catch (Exception exception) when (exception is JsonException or InvalidOperationException)
        {
            // The seeds' headers are well formed; a nested text may not be. Work with the tokens read so far.
        }
        return tokens;
    }

    private static int Skip(byte[] json, int position)
    {
        while (position < json.Length && json[position] is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t')
            position++;
        return position;
    }

    private static byte[] Replace(byte[] json, Token token, string value) =>
        Splice(json, token.Start, token.End - token.Start, Encoding.UTF8.GetBytes(value));

    private static byte[] Splice(byte[] bytes, int start, int removed, ReadOnlySpan<byte> inserted) =>
        [.. bytes.AsSpan(0, start), .. inserted, .. bytes.AsSpan(start + removed)];
}
