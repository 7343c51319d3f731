using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace RwkvQuant.Fuzz.Mutations;

/// <summary>
/// Mutates a pickle (a checkpoint's <c>data.pkl</c>) at the level of its instructions: opcodes replaced, instructions
/// removed, duplicated, swapped or inserted, integer operands and length prefixes set to interesting values, GLOBAL names
/// changed, strings rewritten, a run of instructions repeated many times (the stack and memo limits), or the pickle cut.
/// </summary>
internal static class PickleMutator
{
    private const int MaxRepeatedBytes = 1 << 22;

    private static readonly string[] Globals =
    [
        "torch\nFloatStorage", "torch\nHalfStorage", "torch\nBFloat16Storage", "torch\nLongStorage", "torch\nBoolStorage",
        "torch\nDoubleStorage", "torch\nCharStorage", "collections\nOrderedDict", "torch._utils\n_rebuild_tensor_v2",
        "torch._utils\n_rebuild_parameter", "builtins\nset", "os\nsystem", "torch\nUntypedStorage", "\n", "torch\n",
    ];

    private static readonly string[] Strings = ["", "0", "1", "99", "../0", "storage", "cpu", "cuda:0", "data", "a/b", "\u00e9", "emb.weight", new string('x', 300)];

    /// <summary>Mutates <paramref name="pickle"/>; returns the new bytes and a description.</summary>
    public static (byte[] Bytes, string Detail) Mutate(byte[] pickle, Random random)
    {
        List<PickleInstructions.Instruction> code = PickleInstructions.Parse(pickle);
        if (code.Count < 2)
            return (pickle[..(pickle.Length / 2)], "cut in half");
        PickleInstructions.Instruction at = code[random.Next(code.Count)];
        string where = string.Create(CultureInfo.InvariantCulture, $"instruction 0x{at.Opcode:x2} at {at.Start}");
        switch (random.Next(11))
        {
            case 0:
            {
                byte opcode = random.Next(3) == 0 ? (byte)random.Next(256) : PickleInstructions.Bare[random.Next(PickleInstructions.Bare.Length)];
                byte[] bytes = (byte[])pickle.Clone();
                bytes[at.Start] = opcode;
                return (bytes, string.Create(CultureInfo.InvariantCulture, $"{where}: opcode -> 0x{opcode:x2}"));
            }
            case 1:
                return (Splice(pickle, at.Start, at.Length, []), where + " removed");
            case 2:
                return (Splice(pickle, at.Start, 0, pickle.AsSpan(at.Start, at.Length)), where + " duplicated");
            case 3:
            {
                int index = code.IndexOf(at);
                if (index + 1 >= code.Count)
                    return (Splice(pickle, at.Start, at.Length, []), where + " removed");
                PickleInstructions.Instruction next = code[index + 1];
                byte[] swapped = [.. pickle.AsSpan(next.Start, next.Length), .. pickle.AsSpan(at.Start, at.Length)];
                return (Splice(pickle, at.Start, at.Length + next.Length, swapped), where + " swapped with the next");
            }
            case 4:
            {
                byte opcode = PickleInstructions.Bare[random.Next(PickleInstructions.Bare.Length)];
                return (Splice(pickle, at.Start, 0, [opcode]), string.Create(CultureInfo.InvariantCulture, $"0x{opcode:x2} inserted before {where}"));
            }
            case 5:
            case 6:
                return SetOperand(pickle, code, random);
            case 7:
            {
                PickleInstructions.Instruction[] globals = code.Where(i => i.Opcode == (byte)'c').ToArray();
                if (globals.Length == 0)
                    return SetOperand(pickle, code, random);
                PickleInstructions.Instruction global = globals[random.Next(globals.Length)];
                string name = Globals[random.Next(Globals.Length)];
                return (Splice(pickle, global.Start + 1, global.Length - 1, Encoding.UTF8.GetBytes(name + "\n")),
                    string.Create(CultureInfo.InvariantCulture, $"GLOBAL at {global.Start} -> '{name.Replace('\n', ' ')}'"));
            }
            case 8:
            {
                PickleInstructions.Instruction[] texts = code.Where(i => i.Opcode is (byte)'X' or 0x8c).ToArray();
                if (texts.Length == 0)
                    return SetOperand(pickle, code, random);
                PickleInstructions.Instruction text = texts[random.Next(texts.Length)];
                string value = Strings[random.Next(Strings.Length)];
                byte[] utf8 = Encoding.UTF8.GetBytes(value);
                byte[] replacement = new byte[1 + 4 + utf8.Length];
                replacement[0] = (byte)'X';
                BinaryPrimitives.WriteInt32LittleEndian(replacement.AsSpan(1), utf8.Length);
                utf8.CopyTo(replacement, 5);
                return (Splice(pickle, text.Start, text.Length, replacement), $"string at {text.Start} -> '{(value.Length > 20 ? value[..20] + "…" : value)}'");
            }
            case 9:
            {
                int index = code.IndexOf(at);
                int run = random.Next(1, Math.Min(4, code.Count - index) + 1);
                int length = code[index + run - 1].Start + code[index + run - 1].Length - at.Start;
                int times = random.Next(2) == 0 ? random.Next(2, 100) : random.Next(50_000, 200_000);
                times = Math.Min(times, MaxRepeatedBytes / length); // enough to pass the stack limit, small enough to rebuild fast
                byte[] repeated = new byte[length * times];
                for (int t = 0; t < times; t++)
                    pickle.AsSpan(at.Start, length).CopyTo(repeated.AsSpan(t * length));
                return (Splice(pickle, at.Start, 0, repeated), string.Create(CultureInfo.InvariantCulture, $"{run} instruction(s) from {at.Start} repeated {times} times"));
            }
            default:
            {
                int cut = random.Next(2) == 0 ? at.Start : random.Next(pickle.Length);
                return (pickle[..cut], string.Create(CultureInfo.InvariantCulture, $"cut to {cut} of {pickle.Length} bytes"));
            }
        }
    }

    /// <summary>Sets an integer operand or a length prefix to an interesting value.</summary>
    private static (byte[], string) SetOperand(byte[] pickle, List<PickleInstructions.Instruction> code, Random random)
    {
        PickleInstructions.Instruction[] candidates = code.Where(i => i.Kind is PickleInstructions.Operand.Fixed or PickleInstructions.Operand.Counted).ToArray();
        if (candidates.Length == 0)
            return (pickle[..^1], "last byte cut");
        PickleInstructions.Instruction at = candidates[random.Next(candidates.Length)];
        byte[] bytes = (byte[])pickle.Clone();
        Span<byte> field = bytes.AsSpan(at.Start + 1, at.LengthWidth);
        ulong value = at.LengthWidth switch
        {
            1 => (ulong)random.Next(256),
            2 => ByteMutations.Interesting16[random.Next(ByteMutations.Interesting16.Length)],
            4 => ByteMutations.Interesting32[random.Next(ByteMutations.Interesting32.Length)],
            _ => ByteMutations.Interesting64[random.Next(ByteMutations.Interesting64.Length)],
        };
        if (at.LengthWidth == 1)
            field[0] = (byte)value;
        else
            ByteMutations.Write(field, value);
        string what = at.Kind == PickleInstructions.Operand.Counted ? "length" : "operand";
        return (bytes, string.Create(CultureInfo.InvariantCulture, $"{what} of 0x{at.Opcode:x2} at {at.Start} -> {value}"));
    }

    private static byte[] Splice(byte[] bytes, int start, int removed, ReadOnlySpan<byte> inserted) =>
        [.. bytes.AsSpan(0, start), .. inserted, .. bytes.AsSpan(start + removed)];
}
