using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>The AVX2 tier of <see cref="BitPlaneMatVec"/>: 8 rows × 3 columns per 256-bit permute.</summary>
public static unsafe partial class BitPlaneMatVec
{
    /// <summary>Floats of the AVX2 tables per column block: 8-entry tables over columns 0–2, 3–5 and 6–7.</summary>
    private const int Avx2BlockFloats = 24;

    /// <summary>Rows per 256-bit register: half a row block.</summary>
    private const int HalfBlock = PackedBitPlanes.RowBlock / 2;

    /// <summary>
    /// Per column block j of x (8 values), three 8-float tables: at index m the sum of x[8j + i], x[8j + 3 + i] and
    /// x[8j + 6 + i] over the bits i set in m (added in order of i; absent terms are exact zeros). The third covers two
    /// columns, so its entries 4–7 repeat 0–3; they are never read (a byte shifted right by 6 is at most 3).
    /// </summary>
    internal static void BuildTablesAvx2(float* x, int columnBlocks, float* tables)
    {
        Vector256<float> bit0 = Vector256.Create(0f, 1, 0, 1, 0, 1, 0, 1);
        Vector256<float> bit1 = Vector256.Create(0f, 0, 1, 1, 0, 0, 1, 1);
        Vector256<float> bit2 = Vector256.Create(0f, 0, 0, 0, 1, 1, 1, 1);
        for (int j = 0; j < columnBlocks; j++, x += PackedBitPlanes.ColumnBlock, tables += Avx2BlockFloats)
        {
            Vector256<float> low = Vector256.Create(x[0]) * bit0 + Vector256.Create(x[1]) * bit1;
            low = low + Vector256.Create(x[2]) * bit2;
            Vector256<float> middle = Vector256.Create(x[3]) * bit0 + Vector256.Create(x[4]) * bit1;
            middle = middle + Vector256.Create(x[5]) * bit2;
            Vector256<float> high = Vector256.Create(x[6]) * bit0 + Vector256.Create(x[7]) * bit1;
            Avx.Store(tables, low);
            Avx.Store(tables + HalfBlock, middle);
            Avx.Store(tables + 2 * HalfBlock, high);
        }
    }

    private static void BlocksAvx2(Context c, int first, int end)
    {
        Vector256<float>* weights = stackalloc Vector256<float>[8];
        for (int p = 0; p < 8; p++)
            weights[p] = Vector256.Create((float)(1 << p));
        Vector256<float>* totals = stackalloc Vector256<float>[2 * MaxVectors];
        for (int block = first; block < end; block++)
            BlockAvx2(c, block, weights, totals);
    }

    /// <summary>One row block (two registers of 8 rows) times every vector: per group, each vector's code sum, scaled, less s·z·X_g.</summary>
    private static void BlockAvx2(Context c, int block, Vector256<float>* weights, Vector256<float>* totals)
    {
        PackedBitPlanes w = c.W;
        int groups = w.GroupsPerRow, bits = w.Bits, vectors = c.Vectors, columnBlocks = w.ColumnBlocks;
        int blocksPerGroup = w.GroupSize / PackedBitPlanes.ColumnBlock, blockWords = w.BlockParameterWords;
        int halfWords = HalfBlock * ScaleWords.WordsPerValue(w.Format);
        for (int n = 0; n < 2 * vectors; n++)
            totals[n] = Vector256<float>.Zero;
        byte* planes = (byte*)c.Planes + (long)block * columnBlocks * bits * PackedBitPlanes.RowBlock;
        ushort* parameters = (ushort*)c.Parameters + (long)block * groups * blockWords;
        float* sums = (float*)c.GroupSums;
        for (int g = 0; g < groups; g++, parameters += blockWords)
        {
            int firstBlock = g * blocksPerGroup, count = Math.Min(columnBlocks, firstBlock + blocksPerGroup) - firstBlock;
            byte* groupPlanes = planes + (long)firstBlock * bits * PackedBitPlanes.RowBlock;
            (Vector256<float> scale0, Vector256<float> scaleZero0) = ScaleAndScaleZero8(w, parameters, 2 * halfWords);
            (Vector256<float> scale1, Vector256<float> scaleZero1) = ScaleAndScaleZero8(w, parameters + halfWords, 2 * halfWords);
            for (int n = 0; n < vectors; n++)
            {
                float* table = (float*)c.Tables + (long)n * c.TableFloats + firstBlock * Avx2BlockFloats;
                GroupSumAvx2(groupPlanes, table, count, bits, weights, out Vector256<float> codeSum0, out Vector256<float> codeSum1);
                var groupSum = Vector256.Create(sums[n * groups + g]);
                totals[2 * n] = Fma.MultiplyAddNegated(scaleZero0, groupSum, Fma.MultiplyAdd(codeSum0, scale0, totals[2 * n]));
                totals[2 * n + 1] = Fma.MultiplyAddNegated(scaleZero1, groupSum, Fma.MultiplyAdd(codeSum1, scale1, totals[2 * n + 1]));
            }
        }
        for (int n = 0; n < vectors; n++)
        {
            float* y = (float*)c.Y + (long)n * w.Rows;
            Store8(totals[2 * n], y, block * PackedBitPlanes.RowBlock, w.Rows);
            Store8(totals[2 * n + 1], y, block * PackedBitPlanes.RowBlock + HalfBlock, w.Rows);
        }
    }

    /// <summary>Eight rows' s and s·z of one (row block, group); the zeros lie <paramref name="zeroOffset"/> words after the scales.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<float> Scale, Vector256<float> ScaleZero) ScaleAndScaleZero8(PackedBitPlanes w, ushort* words, int zeroOffset)
    {
        Vector256<float> scale = ScaleWords.Decode8(words, w.Format);
        Vector256<float> zero = w.Symmetric ? Vector256.Create(w.SymmetricZero) : ScaleWords.Decode8(words + zeroOffset, w.Format);
        return (scale, scale * zero);
    }

    /// <summary>The lanes of <paramref name="values"/> that are rows of W, to y from <paramref name="row"/> on.</summary>
    private static void Store8(Vector256<float> values, float* y, int row, int rows)
    {
        if (row + HalfBlock <= rows)
        {
            Avx.Store(y + row, values);
            return;
        }
        for (int r = row; r < rows; r++)
            y[r] = values[r - row];
    }

    /// <summary>
    /// Σ_p 2^p·Σ over the group's columns with bit p set of x, for rows 0–7 (<paramref name="sum0"/>) and 8–15 of a row
    /// block: <paramref name="count"/> column blocks, each three table lookups per plane and register of rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void GroupSumAvx2(byte* planes, float* table, int count, int bits, Vector256<float>* weights,
        out Vector256<float> sum0, out Vector256<float> sum1)
    {
        Vector256<float> a0 = Vector256<float>.Zero, b0 = Vector256<float>.Zero, c0 = Vector256<float>.Zero;
        Vector256<float> a1 = Vector256<float>.Zero, b1 = Vector256<float>.Zero, c1 = Vector256<float>.Zero;
        for (int block = 0; block < count; block++)
        {
            Sse.Prefetch0(planes + PrefetchDistance);
            Vector256<float> low = Avx.LoadVector256(table), middle = Avx.LoadVector256(table + HalfBlock);
            Vector256<float> high = Avx.LoadVector256(table + 2 * HalfBlock);
            for (int p = 0; p < bits; p++)
            {
                byte* plane = planes + p * PackedBitPlanes.RowBlock;
                Vector256<int> index0 = Avx2.ConvertToVector256Int32(plane);
                Vector256<int> index1 = Avx2.ConvertToVector256Int32(plane + HalfBlock);
                Vector256<float> weight = weights[p];
                a0 = Fma.MultiplyAdd(Avx2.PermuteVar8x32(low, index0), weight, a0);
                b0 = Fma.MultiplyAdd(Avx2.PermuteVar8x32(middle, Avx2.ShiftRightLogical(index0, 3)), weight, b0);
                c0 = Fma.MultiplyAdd(Avx2.PermuteVar8x32(high, Avx2.ShiftRightLogical(index0, 6)), weight, c0);
                a1 = Fma.MultiplyAdd(Avx2.PermuteVar8x32(low, index1), weight, a1);
                b1 = Fma.MultiplyAdd(Avx2.PermuteVar8x32(middle, Avx2.ShiftRightLogical(index1, 3)), weight, b1);
                c1 = Fma.MultiplyAdd(Avx2.PermuteVar8x32(high, Avx2.ShiftRightLogical(index1, 6)), weight, c1);
            }
            planes += bits * PackedBitPlanes.RowBlock;
            table += Avx2BlockFloats;
        }
        Vector256<float> total0 = a0 + b0 + c0, total1 = a1 + b1 + c1;
        sum0 = total0;
        sum1 = total1;
    }
}
