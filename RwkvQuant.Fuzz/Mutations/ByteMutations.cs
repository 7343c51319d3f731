using System.Buffers.Binary;
using System.Globalization;
using RwkvQuant.Fuzz.Layouts;

namespace RwkvQuant.Fuzz.Mutations;

/// <summary>
/// The mutations that need no knowledge of the format beyond its <see cref="FileLayout"/>: random byte flips, truncation,
/// random-chunk overwrite, and integer fields set to interesting values. Each returns fresh bytes and never changes its input.
/// </summary>
internal static class ByteMutations
{
    /// <summary>Interesting values of a 16-bit field.</summary>
    public static readonly ulong[] Interesting16 = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF];

    /// <summary>Interesting values of a 32-bit field: 0, 1, -1, int.MaxValue, uint.MaxValue and their neighbours.</summary>
    public static readonly ulong[] Interesting32 =
        [0, 1, 2, 3, 4, 5, 8, 16, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 0x7FFFFFFE, 0x7FFFFFFF, 0x80000000, 0x80000001, 0xFFFFFFFE, 0xFFFFFFFF];

    /// <summary>Interesting values of a 64-bit field: the 32-bit ones and huge 64-bit values.</summary>
    public static readonly ulong[] Interesting64 =
        [.. Interesting32, 0x100000000, 0x100000001, 100_000_000, 100_000_001, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0xFFFFFFFFFFFFFFFE, 0xFFFFFFFFFFFFFFFF, 0x0000_7FFF_FFFF_FFC7];

    /// <summary>Flips 1 to 8 random bytes (XOR with a random non-zero mask), steered into the structure three times in four.</summary>
    public static MutatedFile Flip(byte[] seed, string seedName, FileLayout layout, Random random)
    {
        byte[] bytes = (byte[])seed.Clone();
        int count = random.Next(1, 9);
        var where = new List<string>(count);
        for (int i = 0; i < count; i++)
        {
            long position = Position(bytes.LongLength, layout, random);
            byte mask = (byte)random.Next(1, 256);
            bytes[position] ^= mask;
            where.Add(string.Create(CultureInfo.InvariantCulture, $"0x{position:x}^0x{mask:x2}"));
        }
        return new MutatedFile(bytes, seedName, new Mutation("byte-flip", string.Join(", ", where)));
    }

    /// <summary>Cuts the file at a random length (into the structure half the time), or to 0 to 15 bytes.</summary>
    public static MutatedFile Truncate(byte[] seed, string seedName, FileLayout layout, Random random)
    {
        long length = random.Next(8) switch
        {
            0 => random.Next(16),
            < 4 => Position(seed.LongLength, layout with { Structure = layout.Structure.Count > 0 ? layout.Structure : [(0, seed.LongLength)] }, random),
            _ => random.NextInt64(seed.LongLength),
        };
        length = Math.Min(length, seed.LongLength - 1);
        return new MutatedFile(seed[..(int)length], seedName, new Mutation("truncate", string.Create(CultureInfo.InvariantCulture, $"to {length} of {seed.Length} bytes")));
    }

    /// <summary>Overwrites a chunk of 1 to 256 bytes with random bytes, zeros, 0xFF or a copy of another part of the file.</summary>
    public static MutatedFile Overwrite(byte[] seed, string seedName, FileLayout layout, Random random)
    {
        byte[] bytes = (byte[])seed.Clone();
        long start = Position(bytes.LongLength, layout, random);
        int length = (int)Math.Min(random.Next(1, 257), bytes.LongLength - start);
        Span<byte> chunk = bytes.AsSpan((int)start, length);
        string fill;
        switch (random.Next(4))
        {
            case 0:
                random.NextBytes(chunk);
                fill = "random bytes";
                break;
            case 1:
                chunk.Clear();
                fill = "zeros";
                break;
            case 2:
                chunk.Fill(0xFF);
                fill = "0xFF";
                break;
            default:
                long from = random.NextInt64(bytes.LongLength - length + 1);
                seed.AsSpan((int)from, length).CopyTo(chunk);
                fill = string.Create(CultureInfo.InvariantCulture, $"a copy of 0x{from:x}");
                break;
        }
        return new MutatedFile(bytes, seedName, new Mutation("chunk-overwrite", string.Create(CultureInfo.InvariantCulture, $"{length} bytes at 0x{start:x} with {fill}")));
    }

    /// <summary>Sets one of the layout's integer fields to an interesting value (or its old value ±1, ×2, negated).</summary>
    public static MutatedFile SetField(byte[] seed, string seedName, FileLayout layout, Random random)
    {
        if (layout.Fields.Count == 0)
            return Flip(seed, seedName, layout, random);
        IntegerField field = layout.Fields[random.Next(layout.Fields.Count)];
        byte[] bytes = (byte[])seed.Clone();
        Span<byte> span = bytes.AsSpan((int)field.Offset, field.Width);
        ulong old = Read(span);
        ulong value = random.Next(4) switch
        {
            0 => random.Next(4) switch { 0 => old + 1, 1 => old - 1, 2 => old * 2, _ => ~old + 1 },
            _ => field.Width switch
            {
                2 => Interesting16[random.Next(Interesting16.Length)],
                4 => Interesting32[random.Next(Interesting32.Length)],
                _ => Interesting64[random.Next(Interesting64.Length)],
            },
        };
        Write(span, value);
        return new MutatedFile(bytes, seedName, new Mutation("int-field",
            string.Create(CultureInfo.InvariantCulture, $"{field.Name} (u{field.Width * 8} at 0x{field.Offset:x}) {old} -> {Read(span)}")));
    }

    /// <summary>Reads a little-endian field of 2, 4 or 8 bytes.</summary>
    public static ulong Read(ReadOnlySpan<byte> span) => span.Length switch
    {
        2 => BinaryPrimitives.ReadUInt16LittleEndian(span),
        4 => BinaryPrimitives.ReadUInt32LittleEndian(span),
        _ => BinaryPrimitives.ReadUInt64LittleEndian(span),
    };

    /// <summary>Writes <paramref name="value"/>, truncated to the field's width.</summary>
    public static void Write(Span<byte> span, ulong value)
    {
        switch (span.Length)
        {
            case 2: BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)value); break;
            case 4: BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)value); break;
            default: BinaryPrimitives.WriteUInt64LittleEndian(span, value); break;
        }
    }

    /// <summary>A byte position: in one of the structure ranges three times in four, else anywhere.</summary>
    private static long Position(long length, FileLayout layout, Random random)
    {
        if (layout.Structure.Count > 0 && random.Next(4) != 0)
        {
            (long start, long size) = layout.Structure[random.Next(layout.Structure.Count)];
            long position = start + random.NextInt64(Math.Max(1, size));
            if (position < length)
                return position;
        }
        return random.NextInt64(length);
    }
}
