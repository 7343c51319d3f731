using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>
/// The rows of <see cref="VectorCodesMatVec"/> for codebooks no register permute holds — 2-D codebooks of up to 256
/// pairs (the budget allocation's d = 2, b = 5 or 6 over 16–32 × 256 weights) on AVX2 and on the 128-bit tier, and 1-D
/// codebooks of 32 to 256 entries on AVX2. A row-group's codebooks are decoded to float32 once, as in the other tiers,
/// and stay in L1 (at most 2 KB each). For d = 2 each code's pair is one 64-bit load, two joined into a 128-bit
/// register, two of those into an AVX2 one (on Zen 3, 2.96 ms against 4.08 ms for two <c>vpgatherdq</c> per 16 weights,
/// 4096², two threads). For 1-D codebooks the 8 codes of a segment are split into 32-bit lanes and gathered by one
/// <c>vgatherdps</c>.
/// </summary>
public static unsafe partial class VectorCodesMatVec
{
    /// <summary>The widest code these rows take: a segment's 8 codes must fit the 64-bit word it is read as (and 4 the 32-bit window of the 1-D gather).</summary>
    private const int TableLoadBits = 8;

    /// <summary>True when the AVX2 tier runs the layout by register permutes (1-D, at most 16 entries) rather than loads from the table.</summary>
    private static bool Permutes(int dimension, int bits) => dimension == 1 && bits <= 4;

    /// <summary>
    /// One row from the decoded tables. Segment s holds 8 codes (8·d columns) starting on byte s·b, read as one 64-bit
    /// word (a row's codes are padded to whole words with slack after the array, so the read stays inside); codes 4–7
    /// start at bit 4b ≤ 32. Column groups are the outer loop, as in the permute rows; one vector keeps its sums in registers.
    /// </summary>
    private static void RowAvx2Table(Context c, int row, byte* codes, float* tables, int stride)
    {
        PackedVectorCodes w = c.W;
        int bits = w.Bits, width = 8 * w.Dimension, segments = (w.Columns + width - 1) / width, segmentsPerGroup = w.GroupColumns / width;
        int mask = (1 << bits) - 1, vectors = c.Vectors;
        bool pairs = w.Dimension == 2;
        Vector256<uint> shifts = Vector256.Create(0u, 1, 2, 3, 0, 1, 2, 3) * (uint)bits;
        if (vectors == 1)
        {
            Vector256<float> t0 = Vector256<float>.Zero, t1 = t0;
            float* x = (float*)c.X;
            for (int s = 0; s < segments; tables += stride)
            {
                for (int end = Math.Min(segments, s + segmentsPerGroup); s < end; s++)
                {
                    ulong word = Unsafe.ReadUnaligned<ulong>(codes + s * bits);
                    float* xk = x + width * s;
                    if (pairs)
                    {
                        t0 = Fma.MultiplyAdd(Pairs((ulong*)tables, word, bits, mask), Avx.LoadVector256(xk), t0);
                        t1 = Fma.MultiplyAdd(Pairs((ulong*)tables, word >> (4 * bits), bits, mask), Avx.LoadVector256(xk + 8), t1);
                    }
                    else
                    {
                        t0 = Fma.MultiplyAdd(Gather(tables, word, bits, shifts, mask), Avx.LoadVector256(xk), t0);
                    }
                }
            }
            ((float*)c.Y)[row] = Vector256.Sum(t0 + t1);
            return;
        }
        Vector256<float>* totals = stackalloc Vector256<float>[2 * MaxVectors];
        for (int n = 0; n < 2 * vectors; n++)
            totals[n] = Vector256<float>.Zero;
        for (int s = 0; s < segments; tables += stride)
        {
            for (int end = Math.Min(segments, s + segmentsPerGroup); s < end; s++)
            {
                ulong word = Unsafe.ReadUnaligned<ulong>(codes + s * bits);
                float* xk = (float*)c.X + width * s;
                // For d = 1 the second half is unused (zero weights against the next segment's x: never added).
                Vector256<float> w0 = pairs ? Pairs((ulong*)tables, word, bits, mask) : Gather(tables, word, bits, shifts, mask);
                Vector256<float> w1 = pairs ? Pairs((ulong*)tables, word >> (4 * bits), bits, mask) : Vector256<float>.Zero;
                for (int n = 0; n < vectors; n++, xk += c.Padded)
                {
                    totals[2 * n] = Fma.MultiplyAdd(w0, Avx.LoadVector256(xk), totals[2 * n]);
                    if (pairs)
                        totals[2 * n + 1] = Fma.MultiplyAdd(w1, Avx.LoadVector256(xk + 8), totals[2 * n + 1]);
                }
            }
        }
        for (int n = 0; n < vectors; n++)
            ((float*)c.Y)[n * w.Rows + row] = Vector256.Sum(totals[2 * n] + totals[2 * n + 1]);
    }

    /// <summary>
    /// One row of 2-D codes on the 128-bit tier (ARM64 AdvSimd, SSE): as <see cref="RowAvx2Table"/>, each code's pair one
    /// 64-bit load from the decoded table, two pairs a register; 8 codes (16 columns) a segment.
    /// </summary>
    private static void Row128Pairs(Context c, int row, byte* codes, float* tables, int stride)
    {
        PackedVectorCodes w = c.W;
        int bits = w.Bits, segments = (w.Columns + 15) / 16, segmentsPerGroup = w.GroupColumns / 16;
        int mask = (1 << bits) - 1, vectors = c.Vectors;
        Vector128<float>* totals = stackalloc Vector128<float>[4 * MaxVectors];
        for (int n = 0; n < 4 * vectors; n++)
            totals[n] = Vector128<float>.Zero;
        for (int s = 0; s < segments; tables += stride)
        {
            ulong* book = (ulong*)tables;
            for (int end = Math.Min(segments, s + segmentsPerGroup); s < end; s++)
            {
                ulong word = Unsafe.ReadUnaligned<ulong>(codes + s * bits);
                AddProducts128(totals, vectors, (float*)c.X + 16 * s, c.Padded, TwoPairs(book, word, bits, mask),
                    TwoPairs(book, word >> (2 * bits), bits, mask), TwoPairs(book, word >> (4 * bits), bits, mask), TwoPairs(book, word >> (6 * bits), bits, mask));
            }
        }
        StoreSums128(c, row, totals);
    }

    /// <summary>The pairs named by the 4 codes in the low bits of <paramref name="word"/>, as 8 floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Pairs(ulong* book, ulong word, int bits, int mask) =>
        Vector256.Create(TwoPairs(book, word, bits, mask), TwoPairs(book, word >> (2 * bits), bits, mask));

    /// <summary>The pairs named by the 2 codes in the low bits of <paramref name="word"/>, as 4 floats: one 64-bit load each.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> TwoPairs(ulong* book, ulong word, int bits, int mask) =>
        Vector128.Create(book[(int)word & mask], book[(int)(word >> bits) & mask]).AsSingle();

    /// <summary>The entries named by the 8 codes in the low bits of <paramref name="word"/> (one per 32-bit lane), gathered.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Gather(float* book, ulong word, int bits, Vector256<uint> shifts, int mask)
    {
        Vector256<uint> windows = Vector256.Create(Vector128.Create((uint)word), Vector128.Create((uint)(word >> (4 * bits))));
        Vector256<int> index = Avx2.ShiftRightLogicalVariable(windows, shifts).AsInt32() & Vector256.Create(mask);
        return Avx2.GatherVector256(book, index, 4);
    }
}
