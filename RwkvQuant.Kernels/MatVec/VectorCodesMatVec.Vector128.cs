using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>
/// The 128-bit tier of <see cref="VectorCodesMatVec"/> for 1-D codebooks of up to 16 entries, written with the portable
/// <see cref="Vector128"/> API plus byte interleaves (<c>zip1/zip2</c> on ARM64, <c>punpckl/h</c> on x86). A 128-bit
/// register holds only 4 floats, so the table is held as four byte planes instead — plane k holds byte k of every entry —
/// and 16 codes are looked up at once by four byte shuffles (<c>tbl</c>, <c>pshufb</c>), whose results are interleaved
/// back into 16 floats, exact. The 16 codes of a segment (2b bytes) become 16 byte indices by one shuffle that puts the
/// two bytes holding code i into 16-bit lane i, a per-lane multiply that moves the code to the top bits, and one shift.
/// </summary>
public static unsafe partial class VectorCodesMatVec
{
    /// <summary>Floats per table in the 128-bit tier: 16 entries, stored as 4 planes of 16 bytes.</summary>
    private const int PlaneTable = 16;

    /// <summary>The constants that turn 16 codes of <c>b</c> bits into 16 byte indices.</summary>
    private readonly struct CodeSplitter
    {
        public readonly Vector128<byte> GatherLow, GatherHigh;
        public readonly Vector128<ushort> ShiftLow, ShiftHigh;
        public readonly int Down;

        public CodeSplitter(int bits)
        {
            // Code i occupies bits [b·i, b·(i + 1)) of the segment: the 16-bit lane i takes bytes o and o + 1 (o = b·i / 8),
            // the multiply by 2^(16 − b − b·i mod 8) moves the code to bits [16 − b, 16), and a shift by 16 − b brings it down.
            Span<byte> gather = stackalloc byte[32];
            Span<ushort> shift = stackalloc ushort[16];
            for (int i = 0; i < 16; i++)
            {
                int offset = bits * i / 8;
                gather[2 * i] = (byte)offset;
                gather[2 * i + 1] = (byte)(offset + 1);
                shift[i] = (ushort)(1 << (16 - bits - bits * i % 8));
            }
            GatherLow = Vector128.Create<byte>(gather[..16]);
            GatherHigh = Vector128.Create<byte>(gather[16..]);
            ShiftLow = Vector128.Create<ushort>(shift[..8]);
            ShiftHigh = Vector128.Create<ushort>(shift[8..]);
            Down = 16 - bits;
        }

        /// <summary>The 16 codes starting at <paramref name="codes"/> (16 readable bytes) as byte indices.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector128<byte> Split(byte* codes)
        {
            Vector128<byte> raw = Vector128.Load(codes);
            Vector128<ushort> low = Vector128.ShuffleNative(raw, GatherLow).AsUInt16() * ShiftLow;
            Vector128<ushort> high = Vector128.ShuffleNative(raw, GatherHigh).AsUInt16() * ShiftHigh;
            return Vector128.Narrow(Vector128.ShiftRightLogical(low, Down), Vector128.ShiftRightLogical(high, Down));
        }
    }

    /// <summary>Turns the 16 floats at <paramref name="table"/> into 4 byte planes in place: byte k of entry e to byte 16k + e.</summary>
    private static void ToBytePlanes(float* table)
    {
        Vector128<byte> transpose = Vector128.Create((byte)0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        byte* bytes = (byte*)table;
        // After the shuffle, dword k of a holds byte k of entries 0–3 (b: 4–7, c: 8–11, d: 12–15); then a 4 × 4 dword transpose.
        Vector128<uint> a = Vector128.Shuffle(Vector128.Load(bytes), transpose).AsUInt32();
        Vector128<uint> b = Vector128.Shuffle(Vector128.Load(bytes + 16), transpose).AsUInt32();
        Vector128<uint> c = Vector128.Shuffle(Vector128.Load(bytes + 32), transpose).AsUInt32();
        Vector128<uint> d = Vector128.Shuffle(Vector128.Load(bytes + 48), transpose).AsUInt32();
        Vector128<ulong> ab0 = ZipLow(a, b).AsUInt64(), ab1 = ZipHigh(a, b).AsUInt64();
        Vector128<ulong> cd0 = ZipLow(c, d).AsUInt64(), cd1 = ZipHigh(c, d).AsUInt64();
        ZipLow(ab0, cd0).AsByte().Store(bytes);
        ZipHigh(ab0, cd0).AsByte().Store(bytes + 16);
        ZipLow(ab1, cd1).AsByte().Store(bytes + 32);
        ZipHigh(ab1, cd1).AsByte().Store(bytes + 48);
    }

    /// <summary>One row on the 128-bit tier; column groups outermost, as on AVX2 (one vector keeps its sums in registers).</summary>
    private static void Row128(Context c, int row, byte* codes, float* tables, in CodeSplitter splitter)
    {
        PackedVectorCodes w = c.W;
        int bits = w.Bits, segments = (w.Columns + 15) / 16, segmentsPerGroup = w.GroupColumns / 16, vectors = c.Vectors;
        if (vectors == 1)
        {
            Vector128<float> t0 = Vector128<float>.Zero, t1 = t0, t2 = t0, t3 = t0;
            for (int s = 0; s < segments; tables += PlaneTable)
            {
                var table = new PlaneTable128((byte*)tables);
                for (int end = Math.Min(segments, s + segmentsPerGroup); s < end; s++)
                {
                    table.Lookup(splitter.Split(codes + 2 * bits * s), out var w0, out var w1, out var w2, out var w3);
                    float* xk = (float*)c.X + 16 * s;
                    t0 = Vector128.MultiplyAddEstimate(w0, Vector128.Load(xk), t0);
                    t1 = Vector128.MultiplyAddEstimate(w1, Vector128.Load(xk + 4), t1);
                    t2 = Vector128.MultiplyAddEstimate(w2, Vector128.Load(xk + 8), t2);
                    t3 = Vector128.MultiplyAddEstimate(w3, Vector128.Load(xk + 12), t3);
                }
            }
            ((float*)c.Y)[row] = Vector128.Sum(t0 + t1 + (t2 + t3));
            return;
        }
        Vector128<float>* totals = stackalloc Vector128<float>[4 * MaxVectors];
        for (int n = 0; n < 4 * vectors; n++)
            totals[n] = Vector128<float>.Zero;
        for (int s = 0; s < segments; tables += PlaneTable)
        {
            var table = new PlaneTable128((byte*)tables);
            for (int end = Math.Min(segments, s + segmentsPerGroup); s < end; s++)
            {
                table.Lookup(splitter.Split(codes + 2 * bits * s), out var w0, out var w1, out var w2, out var w3);
                float* xk = (float*)c.X + 16 * s;
                AddProducts128(totals, vectors, xk, c.Padded, w0, w1, w2, w3);
            }
        }
        StoreSums128(c, row, totals);
    }

    /// <summary>Adds the 16 weights w0–w3 times each vector's 16 values at <paramref name="x"/> (vectors <paramref name="padded"/> apart) to its four sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddProducts128(Vector128<float>* totals, int vectors, float* x, int padded,
        Vector128<float> w0, Vector128<float> w1, Vector128<float> w2, Vector128<float> w3)
    {
        for (int n = 0; n < vectors; n++, x += padded)
        {
            Vector128<float>* t = totals + 4 * n;
            t[0] = Vector128.MultiplyAddEstimate(w0, Vector128.Load(x), t[0]);
            t[1] = Vector128.MultiplyAddEstimate(w1, Vector128.Load(x + 4), t[1]);
            t[2] = Vector128.MultiplyAddEstimate(w2, Vector128.Load(x + 8), t[2]);
            t[3] = Vector128.MultiplyAddEstimate(w3, Vector128.Load(x + 12), t[3]);
        }
    }

    /// <summary>Each vector's four sums added into y[n, <paramref name="row"/>].</summary>
    private static void StoreSums128(Context c, int row, Vector128<float>* totals)
    {
        for (int n = 0; n < c.Vectors; n++)
        {
            Vector128<float>* t = totals + 4 * n;
            ((float*)c.Y)[n * c.W.Rows + row] = Vector128.Sum(t[0] + t[1] + (t[2] + t[3]));
        }
    }

    /// <summary>A group's table as four byte planes held in registers.</summary>
    private readonly struct PlaneTable128(byte* planes)
    {
        private readonly Vector128<byte> _p0 = Vector128.Load(planes), _p1 = Vector128.Load(planes + 16);
        private readonly Vector128<byte> _p2 = Vector128.Load(planes + 32), _p3 = Vector128.Load(planes + 48);

        /// <summary>The 16 entries <paramref name="index"/> names, as floats: entries 0–3 in <paramref name="w0"/>, and so on.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Lookup(Vector128<byte> index, out Vector128<float> w0, out Vector128<float> w1, out Vector128<float> w2, out Vector128<float> w3)
        {
            Vector128<byte> b0 = Vector128.ShuffleNative(_p0, index), b1 = Vector128.ShuffleNative(_p1, index);
            Vector128<byte> b2 = Vector128.ShuffleNative(_p2, index), b3 = Vector128.ShuffleNative(_p3, index);
            Vector128<ushort> low01 = ZipLow(b0, b1).AsUInt16(), high01 = ZipHigh(b0, b1).AsUInt16();
            Vector128<ushort> low23 = ZipLow(b2, b3).AsUInt16(), high23 = ZipHigh(b2, b3).AsUInt16();
            w0 = ZipLow(low01, low23).AsSingle();
            w1 = ZipHigh(low01, low23).AsSingle();
            w2 = ZipLow(high01, high23).AsSingle();
            w3 = ZipHigh(high01, high23).AsSingle();
        }
    }

    /// <summary>True when this machine interleaves registers in one instruction (x86 SSE2, ARM64): the 128-bit lookup needs it.</summary>
    private static bool Interleaves => Sse2.IsSupported || AdvSimd.Arm64.IsSupported;

    // Interleaves of the low or high halves of two registers (punpckl/h on x86, zip1/zip2 on ARM64).

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> ZipLow(Vector128<byte> a, Vector128<byte> b) =>
        Sse2.IsSupported ? Sse2.UnpackLow(a, b) : AdvSimd.Arm64.ZipLow(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> ZipHigh(Vector128<byte> a, Vector128<byte> b) =>
        Sse2.IsSupported ? Sse2.UnpackHigh(a, b) : AdvSimd.Arm64.ZipHigh(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ushort> ZipLow(Vector128<ushort> a, Vector128<ushort> b) =>
        Sse2.IsSupported ? Sse2.UnpackLow(a, b) : AdvSimd.Arm64.ZipLow(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ushort> ZipHigh(Vector128<ushort> a, Vector128<ushort> b) =>
        Sse2.IsSupported ? Sse2.UnpackHigh(a, b) : AdvSimd.Arm64.ZipHigh(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> ZipLow(Vector128<uint> a, Vector128<uint> b) =>
        Sse2.IsSupported ? Sse2.UnpackLow(a, b) : AdvSimd.Arm64.ZipLow(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> ZipHigh(Vector128<uint> a, Vector128<uint> b) =>
        Sse2.IsSupported ? Sse2.UnpackHigh(a, b) : AdvSimd.Arm64.ZipHigh(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ulong> ZipLow(Vector128<ulong> a, Vector128<ulong> b) =>
        Sse2.IsSupported ? Sse2.UnpackLow(a, b) : AdvSimd.Arm64.ZipLow(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ulong> ZipHigh(Vector128<ulong> a, Vector128<ulong> b) =>
        Sse2.IsSupported ? Sse2.UnpackHigh(a, b) : AdvSimd.Arm64.ZipHigh(a, b);
}
