using System.Buffers.Binary;

namespace RwkvQuant.Inference;

/// <summary>
/// Reads runs of codes from a <see cref="Packing.BitPacking"/> stream (code i in bits [i·b, (i+1)·b), least significant
/// bit first) several codes per 64-bit load.
/// </summary>
internal static class PackedCodes
{
    /// <summary>Codes [<paramref name="first"/>, first + destination.Length) of <paramref name="bits"/> bits, as floats.</summary>
    public static void Read(ReadOnlySpan<byte> packed, long first, int bits, Span<float> destination)
    {
        ulong mask = (1UL << bits) - 1;
        long bit = first * bits;
        int i = 0, n = destination.Length;
        while (i < n)
        {
            long index = bit >> 3;
            int shift = (int)(bit & 7);
            if (index + 8 <= packed.Length)
            {
                ulong window = BinaryPrimitives.ReadUInt64LittleEndian(packed[(int)index..]) >> shift;
                int count = Math.Min((64 - shift) / bits, n - i);
                for (int c = 0; c < count; c++, window >>= bits)
                    destination[i++] = (int)(window & mask);
                bit += (long)count * bits;
            }
            else
            {
                destination[i++] = ReadOne(packed, bit, bits, mask);
                bit += bits;
            }
        }
    }

    /// <summary>As <see cref="Read(ReadOnlySpan{byte}, long, int, Span{float})"/>, as integers.</summary>
    public static void Read(ReadOnlySpan<byte> packed, long first, int bits, Span<int> destination)
    {
        ulong mask = (1UL << bits) - 1;
        long bit = first * bits;
        int i = 0, n = destination.Length;
        while (i < n)
        {
            long index = bit >> 3;
            int shift = (int)(bit & 7);
            if (index + 8 <= packed.Length)
            {
                ulong window = BinaryPrimitives.ReadUInt64LittleEndian(packed[(int)index..]) >> shift;
                int count = Math.Min((64 - shift) / bits, n - i);
                for (int c = 0; c < count; c++, window >>= bits)
                    destination[i++] = (int)(window & mask);
                bit += (long)count * bits;
            }
            else
            {
                destination[i++] = ReadOne(packed, bit, bits, mask);
                bit += bits;
            }
        }
    }

    /// <summary>One code near the end of the stream, a byte at a time.</summary>
    private static int ReadOne(ReadOnlySpan<byte> packed, long bit, int bits, ulong mask)
    {
        long index = bit >> 3;
        int shift = (int)(bit & 7);
        ulong window = 0;
        for (int k = 0; k < 3 && index + k < packed.Length; k++)
            window |= (ulong)packed[(int)(index + k)] << (8 * k);
        return (int)((window >> shift) & mask);
    }
}
