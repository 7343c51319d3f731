using System.Buffers.Binary;

namespace RwkvQuant.Fuzz.Mutations;

/// <summary>
/// Splits a pickle into its instructions (opcode and operand) by the operand encoding of each opcode of protocols 0 to 5,
/// so that mutations can act on whole instructions and on the integers inside them.
/// </summary>
internal static class PickleInstructions
{
    /// <summary>How an opcode's operand is encoded.</summary>
    public enum Operand
    {
        /// <summary>No operand.</summary>
        None,
        /// <summary>A fixed-width little-endian integer (or float) of <see cref="Instruction.LengthWidth"/> bytes.</summary>
        Fixed,
        /// <summary>A little-endian length of <see cref="Instruction.LengthWidth"/> bytes, then that many bytes.</summary>
        Counted,
        /// <summary>One or two newline-terminated lines.</summary>
        Lines,
    }

    /// <summary>One instruction: <see cref="Length"/> bytes at <see cref="Start"/>, its operand's integer or length field
    /// <see cref="LengthWidth"/> bytes after the opcode.</summary>
    public sealed record Instruction(int Start, int Length, byte Opcode, Operand Kind, int LengthWidth);

    /// <summary>Opcodes without an operand, which a mutation may insert anywhere.</summary>
    public static readonly byte[] Bare =
    [
        (byte)'(', (byte)')', (byte)'.', (byte)'0', (byte)'1', (byte)'2', (byte)'N', (byte)'Q', (byte)'R', (byte)'a',
        (byte)'b', (byte)'d', (byte)'e', (byte)'l', (byte)'o', (byte)'s', (byte)'t', (byte)'u', (byte)']', (byte)'}',
        0x81, 0x85, 0x86, 0x87, 0x88, 0x89, 0x90, 0x91, 0x92, 0x93, 0x94, 0x97, 0x98,
    ];

    /// <summary>The instructions of <paramref name="pickle"/>, up to the first byte that does not parse.</summary>
    public static List<Instruction> Parse(byte[] pickle)
    {
        var instructions = new List<Instruction>();
        int position = 0;
        while (position < pickle.Length)
        {
            byte opcode = pickle[position];
            (Operand kind, int width) = Encoding(opcode);
            int length;
            switch (kind)
            {
                case Operand.None:
                    length = 1;
                    break;
                case Operand.Fixed:
                    length = 1 + width;
                    break;
                case Operand.Counted:
                    if (position + 1 + width > pickle.Length)
                        return instructions;
                    ulong count = ByteMutations.Read(Widen(pickle.AsSpan(position + 1, width)));
                    if (count > (ulong)(pickle.Length - position))
                        return instructions;
                    length = 1 + width + (int)count;
                    break;
                default:
                    int lines = opcode is (byte)'c' or (byte)'i' ? 2 : 1;
                    length = 1;
                    for (int l = 0; l < lines; l++)
                    {
                        int newline = Array.IndexOf(pickle, (byte)'\n', position + length);
                        if (newline < 0)
                            return instructions;
                        length = newline - position + 1;
                    }
                    break;
            }
            if (position + length > pickle.Length)
                return instructions;
            instructions.Add(new Instruction(position, length, opcode, kind, width));
            position += length;
        }
        return instructions;
    }

    /// <summary>The operand encoding of <paramref name="opcode"/>; unknown opcodes count as bare.</summary>
    public static (Operand Kind, int Width) Encoding(byte opcode) => opcode switch
    {
        (byte)'K' or (byte)'q' or (byte)'h' or 0x80 or 0x82 => (Operand.Fixed, 1),
        (byte)'M' or 0x83 => (Operand.Fixed, 2),
        (byte)'J' or (byte)'r' or (byte)'j' or 0x84 => (Operand.Fixed, 4),
        (byte)'G' or 0x95 => (Operand.Fixed, 8),
        (byte)'U' or (byte)'C' or 0x8c or 0x8a => (Operand.Counted, 1),
        (byte)'X' or (byte)'T' or (byte)'B' or 0x8b => (Operand.Counted, 4),
        0x8d or 0x8e or 0x96 => (Operand.Counted, 8),
        (byte)'c' or (byte)'i' or (byte)'I' or (byte)'L' or (byte)'F' or (byte)'S' or (byte)'V' or (byte)'P' or (byte)'p' or (byte)'g' => (Operand.Lines, 0),
        _ => (Operand.None, 0),
    };

    // A 1-byte field read through the 2/4/8-byte reader.
    private static ReadOnlySpan<byte> Widen(ReadOnlySpan<byte> field) =>
        field.Length == 1 ? new byte[] { field[0], 0 } : field;
}
