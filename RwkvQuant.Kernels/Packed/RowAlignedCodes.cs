using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace RwkvQuant.Kernels.Packed;

/// <summary>
/// The code stream of the packed layouts: each row's codes LSB-first as in the dense stored stream, but every row
/// starts on a 64-bit word and is padded with zero codes to a multiple of 64 codes (so a row of b-bit codes takes
/// b·⌈n / 64⌉ words and 16 codes always start on a byte); <see cref="Slack"/> zero bytes follow the last row so that
/// 16-byte vector loads at any 16-code boundary stay inside the array.
/// </summary>
internal static class RowAlignedCodes
{
    /// <summary>Zero bytes after the last row.</summary>
    public const int Slack = 16;

    /// <summary>Bytes of one row of <paramref name="codesPerRow"/> codes of <paramref name="bits"/> bits.</summary>
    public static int RowBytes(int codesPerRow, int bits) => checked(8 * bits * ((codesPerRow + 63) / 64));

    /// <summary>
    /// Re-lays the dense stream (<paramref name="rows"/> · <paramref name="codesPerRow"/> codes back to back, as
    /// <c>BitPacking.Pack</c> writes them) row-aligned.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="dense"/> is not exactly the dense stream's length.</exception>
    public static byte[] FromDense(ReadOnlySpan<byte> dense, int rows, int codesPerRow, int bits)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(codesPerRow, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(bits, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bits, 16);
        long denseBytes = ((long)rows * codesPerRow * bits + 7) / 8;
        if (dense.Length != denseBytes)
            throw new ArgumentException($"{rows} × {codesPerRow} codes of {bits} bits take {denseBytes} bytes, got {dense.Length}.", nameof(dense));
        int rowBytes = RowBytes(codesPerRow, bits);
        var result = new byte[checked((long)rows * rowBytes + Slack)];
        long rowBits = (long)codesPerRow * bits;
        for (int row = 0; row < rows; row++)
        {
            long source = row * rowBits;
            Span<byte> target = result.AsSpan(row * rowBytes, rowBytes);
            // 32 bits at a time; the last chunk is masked to the row's end so the padding stays zero.
            for (long done = 0; done < rowBits; done += 32)
            {
                int take = (int)Math.Min(32, rowBits - done);
                uint chunk = (uint)(ReadBits(dense, source + done) & (take == 32 ? uint.MaxValue : (1u << take) - 1));
                WriteBits(target, done, chunk);
            }
        }
        return result;
    }

    /// <summary>Code <paramref name="index"/> of the row starting at byte <paramref name="rowStart"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Read(ReadOnlySpan<byte> codes, long rowStart, int index, int bits)
    {
        long bit = (long)index * bits;
        return (int)(ReadBits(codes, rowStart * 8 + bit) & ((1u << bits) - 1));
    }

    /// <summary>The 32 bits starting at bit <paramref name="position"/> (bytes past the end read as zero).</summary>
    private static ulong ReadBits(ReadOnlySpan<byte> bytes, long position)
    {
        long start = position >> 3;
        ulong window;
        if (start + 8 <= bytes.Length)
        {
            window = BinaryPrimitives.ReadUInt64LittleEndian(bytes[(int)start..]);
        }
        else
        {
            window = 0;
            for (int k = 0; start + k < bytes.Length; k++)
                window |= (ulong)bytes[(int)(start + k)] << (8 * k);
        }
        return (window >> (int)(position & 7)) & uint.MaxValue;
    }

    private static void WriteBits(Span<byte> bytes, long position, uint value)
    {
        long start = position >> 3;
        ulong shifted = (ulong)value << (int)(position & 7);
        for (int k = 0; shifted != 0; k++, shifted >>= 8)
            bytes[(int)(start + k)] |= (byte)shifted;
    }

    /// <summary>The first <c>destination.Length</c> codes of one row, as floats (64-bit reads, one per code).</summary>
    public static unsafe void DecodeRow(ReadOnlySpan<byte> row, int bits, Span<float> destination)
    {
        ulong mask = (1ul << bits) - 1;
        fixed (byte* p = row)
        {
            for (int k = 0; k < destination.Length; k++)
            {
                long bit = (long)k * bits;
                // Rows are whole 64-bit words, so an 8-byte read from the code's byte stays inside the row
                // except near its end; read byte-wise there.
                long start = bit >> 3;
                ulong window = start + 8 <= row.Length ? *(ulong*)(p + start) : Tail(p, start, row.Length);
                destination[k] = (float)((window >> (int)(bit & 7)) & mask);
            }
        }
    }

    private static unsafe ulong Tail(byte* p, long start, int length)
    {
        ulong window = 0;
        for (int k = 0; start + k < length; k++)
            window |= (ulong)p[start + k] << (8 * k);
        return window;
    }

}
