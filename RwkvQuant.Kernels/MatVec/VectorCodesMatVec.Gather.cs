using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>
/// The AVX2 tier of <see cref="VectorCodesMatVec"/> for codebooks no register permute holds: 2-D codebooks of up to 256
/// pairs (the budget allocation's d = 2, b = 5 or 6 over 16–32 × 256 weights) and 1-D codebooks of 32 to 256 entries. A
/// row-group's codebooks are decoded to float32 once, as in the other tiers, and stay in L1 (at most 2 KB each); 8
/// codes at a time are split into 32-bit lanes and their centroids gathered from the group's table — one
/// <c>vgatherdps</c> of 8 floats for d = 1, two <c>vpgatherdq</c> of 4 pairs for d = 2 (a pair moves as one 64-bit
/// element, so 16 weights come from two instructions).
/// </summary>
public static unsafe partial class VectorCodesMatVec
{
    /// <summary>The largest code width the gather takes: 4 codes must fit one 32-bit window.</summary>
    private const int GatherBits = 8;

    /// <summary>True when the AVX2 tier runs the layout by register permutes (1-D, at most 16 entries) rather than gathers.</summary>
    private static bool Permutes(int dimension, int bits) => dimension == 1 && bits <= 4;

    /// <summary>
    /// One row by gathers. Segment s holds 8 codes (8·d columns) starting on byte s·b; lanes 0–3 take bits
    /// [i·b, (i + 1)·b) of the segment's first 32 bits, lanes 4–7 the same of the 32 bits from bit 4b (4b ≤ 32 for
    /// b ≤ 8, and a row's codes are padded to whole words with slack after the array, so the 8-byte read stays inside).
    /// Column groups are the outer loop, as in the permute rows; one vector keeps its sums in registers.
    /// </summary>
    private static void RowAvx2Gather(Context c, int row, byte* codes, float* tables, int stride)
    {
        PackedVectorCodes w = c.W;
        int bits = w.Bits, width = 8 * w.Dimension, segments = (w.Columns + width - 1) / width, segmentsPerGroup = w.GroupColumns / width;
        bool pairs = w.Dimension == 2;
        Vector256<uint> shifts = Vector256.Create(0u, 1, 2, 3, 0, 1, 2, 3) * (uint)bits;
        Vector256<int> mask = Vector256.Create((1 << bits) - 1);
        int vectors = c.Vectors;
        if (vectors == 1)
        {
            Vector256<float> t0 = Vector256<float>.Zero, t1 = t0;
            float* x = (float*)c.X;
            for (int s = 0; s < segments; tables += stride)
            {
                for (int end = Math.Min(segments, s + segmentsPerGroup); s < end; s++)
                {
                    Vector256<int> index = GatherIndices(codes + s * bits, bits, shifts, mask);
                    float* xk = x + width * s;
                    if (pairs)
                    {
                        t0 = Fma.MultiplyAdd(Avx2.GatherVector256((long*)tables, index.GetLower(), 8).AsSingle(), Avx.LoadVector256(xk), t0);
                        t1 = Fma.MultiplyAdd(Avx2.GatherVector256((long*)tables, index.GetUpper(), 8).AsSingle(), Avx.LoadVector256(xk + 8), t1);
                    }
                    else
                    {
                        t0 = Fma.MultiplyAdd(Avx2.GatherVector256(tables, index, 4), Avx.LoadVector256(xk), t0);
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
                Vector256<int> index = GatherIndices(codes + s * bits, bits, shifts, mask);
                float* xk = (float*)c.X + width * s;
                if (pairs)
                {
                    Vector256<float> w0 = Avx2.GatherVector256((long*)tables, index.GetLower(), 8).AsSingle();
                    Vector256<float> w1 = Avx2.GatherVector256((long*)tables, index.GetUpper(), 8).AsSingle();
                    for (int n = 0; n < vectors; n++, xk += c.Padded)
                    {
                        totals[2 * n] = Fma.MultiplyAdd(w0, Avx.LoadVector256(xk), totals[2 * n]);
                        totals[2 * n + 1] = Fma.MultiplyAdd(w1, Avx.LoadVector256(xk + 8), totals[2 * n + 1]);
                    }
                }
                else
                {
                    Vector256<float> w0 = Avx2.GatherVector256(tables, index, 4);
                    for (int n = 0; n < vectors; n++, xk += c.Padded)
                        totals[2 * n] = Fma.MultiplyAdd(w0, Avx.LoadVector256(xk), totals[2 * n]);
                }
            }
        }
        for (int n = 0; n < vectors; n++)
            ((float*)c.Y)[n * w.Rows + row] = Vector256.Sum(totals[2 * n] + totals[2 * n + 1]);
    }

    /// <summary>The 8 codes of <paramref name="bits"/> bits starting at <paramref name="codes"/>, one per 32-bit lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> GatherIndices(byte* codes, int bits, Vector256<uint> shifts, Vector256<int> mask)
    {
        ulong word = Unsafe.ReadUnaligned<ulong>(codes);
        Vector256<uint> windows = Vector256.Create(Vector128.Create((uint)word), Vector128.Create((uint)(word >> (4 * bits))));
        return Avx2.ShiftRightLogicalVariable(windows, shifts).AsInt32() & mask;
    }
}
