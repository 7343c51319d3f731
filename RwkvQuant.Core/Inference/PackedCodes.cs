using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace RwkvQuant.Inference;

/// <summary>
/// Reads runs of codes from a <see cref="Packing.BitPacking"/> stream (code i in bits [i·b, (i+1)·b), least significant
/// bit first), each code with one unaligned 64-bit load while at least 8 bytes remain, a byte at a time after that.
/// </summary>
internal static class PackedCodes
{
    /// <summary>Codes [<paramref name="first"/>, first + destination.Length) of <paramref name="bits"/> bits (1–16), as
    /// floats: read as integers into the destination's own memory, then converted in place with SIMD (scalar int → float
    /// conversions in the read loop were several times slower).</summary>
    public static void Read(ReadOnlySpan<byte> packed, long first, int bits, Span<float> destination)
    {
        Span<int> integers = MemoryMarshal.Cast<float, int>(destination);
        Read(packed, first, bits, integers);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref int source = ref MemoryMarshal.GetReference(integers);
            ref float target = ref MemoryMarshal.GetReference(destination);
            for (; i + 8 <= integers.Length; i += 8)
                Vector256.ConvertToSingle(Vector256.LoadUnsafe(ref source, (nuint)i)).StoreUnsafe(ref target, (nuint)i);
        }
        for (; i < integers.Length; i++)
            destination[i] = integers[i];
    }

    /// <summary>Codes [<paramref name="first"/>, first + destination.Length) of <paramref name="bits"/> bits (1–16).</summary>
    public static void Read(ReadOnlySpan<byte> packed, long first, int bits, Span<int> destination)
    {
        ulong mask = (1UL << bits) - 1;
        ref byte start = ref MemoryMarshal.GetReference(packed);
        long safeEnd = packed.Length - 8;
        long bit = first * bits;
        for (int i = 0; i < destination.Length; i++, bit += bits)
        {
            long index = bit >> 3;
            destination[i] = index <= safeEnd
                ? (int)((Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, (nint)index)) >> (int)(bit & 7)) & mask)
                : ReadOne(packed, bit, mask);
        }
    }

    /// <summary>One code near the end of the stream, a byte at a time (b + 7 ≤ 23 bits: three bytes at most).</summary>
    private static int ReadOne(ReadOnlySpan<byte> packed, long bit, ulong mask)
    {
        long index = bit >> 3;
        int shift = (int)(bit & 7);
        ulong window = 0;
        for (int k = 0; k < 3 && index + k < packed.Length; k++)
            window |= (ulong)packed[(int)(index + k)] << (8 * k);
        return (int)((window >> shift) & mask);
    }
}
