namespace RwkvQuant.Packing;

/// <summary>
/// Packs unsigned codes of 1–16 bits into a dense little-endian bit stream: code i occupies bits
/// [i·b, (i+1)·b) of the stream, least significant bit first, so n codes of b bits take ⌈n·b/8⌉ bytes.
/// </summary>
public static class BitPacking
{
    /// <summary>Bytes needed for <paramref name="count"/> codes of <paramref name="bits"/> bits.</summary>
    public static long PackedLength(long count, int bits)
    {
        ValidateBits(bits);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return (count * bits + 7) / 8;
    }

    /// <summary>Packs <paramref name="codes"/>, each in [0, 2^bits).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A code does not fit in <paramref name="bits"/> bits.</exception>
    public static byte[] Pack(ReadOnlySpan<int> codes, int bits)
    {
        var packed = new byte[PackedLength(codes.Length, bits)];
        int limit = 1 << bits;
        long position = 0;
        for (int i = 0; i < codes.Length; i++, position += bits)
        {
            int code = codes[i];
            if ((uint)code >= (uint)limit)
                throw new ArgumentOutOfRangeException(nameof(codes), code, $"Code {i} does not fit in {bits} bits.");
            long bytePosition = position >> 3;
            int shift = (int)(position & 7);
            uint window = (uint)code << shift; // at most 16 + 7 bits: three bytes
            for (int k = 0; window != 0; k++, window >>= 8)
                packed[bytePosition + k] |= (byte)window;
        }
        return packed;
    }

    /// <summary>Unpacks <paramref name="destination"/>.Length codes of <paramref name="bits"/> bits.</summary>
    /// <exception cref="ArgumentException"><paramref name="packed"/> is shorter than the codes need.</exception>
    public static void Unpack(ReadOnlySpan<byte> packed, int bits, Span<int> destination)
    {
        long needed = PackedLength(destination.Length, bits);
        if (packed.Length < needed)
            throw new ArgumentException($"{destination.Length} codes of {bits} bits need {needed} bytes, got {packed.Length}.", nameof(packed));
        int mask = (1 << bits) - 1;
        long position = 0;
        for (int i = 0; i < destination.Length; i++, position += bits)
        {
            long bytePosition = position >> 3;
            int shift = (int)(position & 7);
            uint window = 0;
            for (int k = 0; k < 3 && bytePosition + k < packed.Length; k++)
                window |= (uint)packed[(int)(bytePosition + k)] << (8 * k);
            destination[i] = (int)(window >> shift) & mask;
        }
    }

    /// <summary>Code <paramref name="index"/> of the stream.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The stream has no such code.</exception>
    public static int Read(ReadOnlySpan<byte> packed, int bits, long index)
    {
        ValidateBits(bits);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        long position = index * bits, bytePosition = position >> 3;
        if ((position + bits + 7) / 8 > packed.Length)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"The stream holds {packed.Length * 8L / bits} codes of {bits} bits.");
        uint window = 0;
        for (int k = 0; k < 3 && bytePosition + k < packed.Length; k++)
            window |= (uint)packed[(int)(bytePosition + k)] << (8 * k);
        return (int)(window >> (int)(position & 7)) & ((1 << bits) - 1);
    }

    /// <summary>Unpacks <paramref name="count"/> codes into a new array.</summary>
    public static int[] Unpack(ReadOnlySpan<byte> packed, int bits, int count)
    {
        var codes = new int[count];
        Unpack(packed, bits, codes);
        return codes;
    }

    private static void ValidateBits(int bits)
    {
        if (bits is < 1 or > 16)
            throw new ArgumentOutOfRangeException(nameof(bits), bits, "Codes have 1 to 16 bits.");
    }
}
