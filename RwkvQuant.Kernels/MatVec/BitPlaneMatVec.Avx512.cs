using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>The AVX-512 tier of <see cref="BitPlaneMatVec"/>: 16 rows × 4 columns per 512-bit permute.</summary>
public static unsafe partial class BitPlaneMatVec
{
    /// <summary>Floats of the AVX-512 tables per column block: two 16-entry tables, over columns 0–3 and 4–7.</summary>
    private const int Avx512BlockFloats = 2 * TableFloats;

    /// <summary>
    /// Table j of x (16 floats) holds at index m the sum of x[4j + i] over the bits i set in m, added in order of i
    /// (absent terms are exact zeros).
    /// </summary>
    internal static void BuildTables512(float* x, int quads, float* tables)
    {
        Vector512<float> bit0 = Vector512.Create(0f, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1);
        Vector512<float> bit1 = Vector512.Create(0f, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1);
        Vector512<float> bit2 = Vector512.Create(0f, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1);
        Vector512<float> bit3 = Vector512.Create(0f, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
        for (int j = 0; j < quads; j++, x += 4, tables += TableFloats)
        {
            Vector512<float> table = Vector512.Create(x[0]) * bit0 + Vector512.Create(x[1]) * bit1;
            table = table + Vector512.Create(x[2]) * bit2;
            table = table + Vector512.Create(x[3]) * bit3;
            Avx512F.Store(tables, table);
        }
    }

    private static void Blocks512(Context c, int first, int end)
    {
        Vector512<float>* weights = stackalloc Vector512<float>[8];
        for (int p = 0; p < 8; p++)
            weights[p] = Vector512.Create((float)(1 << p));
        int block = first;
        if (c.Vectors == 1)
        {
            // Two row blocks per pass: each table is loaded once for 32 rows.
            for (; block + 1 < end; block += 2)
                BlockPair(c, block, weights);
        }
        for (; block < end; block++)
            Block(c, block, weights);
    }

    /// <summary>One row block times every vector: per group, each vector's code sum, scaled, less s·z·X_g.</summary>
    private static void Block(Context c, int block, Vector512<float>* weights)
    {
        PackedBitPlanes w = c.W;
        int groups = w.GroupsPerRow, bits = w.Bits, vectors = c.Vectors, columnBlocks = w.ColumnBlocks;
        int blocksPerGroup = w.GroupSize / PackedBitPlanes.ColumnBlock, blockWords = w.BlockParameterWords;
        Vector512<float>* totals = stackalloc Vector512<float>[MaxVectors];
        for (int n = 0; n < vectors; n++)
            totals[n] = Vector512<float>.Zero;
        byte* planes = (byte*)c.Planes + (long)block * columnBlocks * bits * PackedBitPlanes.RowBlock;
        ushort* parameters = (ushort*)c.Parameters + (long)block * groups * blockWords;
        float* sums = (float*)c.GroupSums;
        for (int g = 0; g < groups; g++, parameters += blockWords)
        {
            int firstBlock = g * blocksPerGroup, count = Math.Min(columnBlocks, firstBlock + blocksPerGroup) - firstBlock;
            byte* groupPlanes = planes + (long)firstBlock * bits * PackedBitPlanes.RowBlock;
            (Vector512<float> scale, Vector512<float> scaleZero) = ScaleAndScaleZero(w, parameters);
            for (int n = 0; n < vectors; n++)
            {
                float* table = (float*)c.Tables + (long)n * c.TableFloats + firstBlock * 2 * TableFloats;
                Vector512<float> codeSum = GroupSum(groupPlanes, table, count, bits, weights);
                totals[n] = Avx512F.FusedMultiplyAddNegated(scaleZero, Vector512.Create(sums[n * groups + g]),
                    Avx512F.FusedMultiplyAdd(codeSum, scale, totals[n]));
            }
        }
        for (int n = 0; n < vectors; n++)
            Store(totals[n], (float*)c.Y + (long)n * w.Rows, block * PackedBitPlanes.RowBlock, w.Rows);
    }

    /// <summary>Row blocks <paramref name="block"/> and the next times one vector.</summary>
    private static void BlockPair(Context c, int block, Vector512<float>* weights)
    {
        PackedBitPlanes w = c.W;
        int groups = w.GroupsPerRow, bits = w.Bits, rows = w.Rows, columnBlocks = w.ColumnBlocks;
        int blocksPerGroup = w.GroupSize / PackedBitPlanes.ColumnBlock, blockWords = w.BlockParameterWords;
        long blockBytes = (long)columnBlocks * bits * PackedBitPlanes.RowBlock;
        byte* planes0 = (byte*)c.Planes + block * blockBytes, planes1 = planes0 + blockBytes;
        ushort* parameters0 = (ushort*)c.Parameters + (long)block * groups * blockWords, parameters1 = parameters0 + (long)groups * blockWords;
        float* sums = (float*)c.GroupSums, tables = (float*)c.Tables;
        Vector512<float> total0 = Vector512<float>.Zero, total1 = Vector512<float>.Zero;
        for (int g = 0; g < groups; g++, parameters0 += blockWords, parameters1 += blockWords)
        {
            int firstBlock = g * blocksPerGroup, count = Math.Min(columnBlocks, firstBlock + blocksPerGroup) - firstBlock;
            long offset = (long)firstBlock * bits * PackedBitPlanes.RowBlock;
            GroupSumPair(planes0 + offset, planes1 + offset, tables + firstBlock * 2 * TableFloats, count, bits, weights,
                out Vector512<float> codeSum0, out Vector512<float> codeSum1);
            (Vector512<float> scale0, Vector512<float> scaleZero0) = ScaleAndScaleZero(w, parameters0);
            (Vector512<float> scale1, Vector512<float> scaleZero1) = ScaleAndScaleZero(w, parameters1);
            var groupSum = Vector512.Create(sums[g]);
            total0 = Avx512F.FusedMultiplyAddNegated(scaleZero0, groupSum, Avx512F.FusedMultiplyAdd(codeSum0, scale0, total0));
            total1 = Avx512F.FusedMultiplyAddNegated(scaleZero1, groupSum, Avx512F.FusedMultiplyAdd(codeSum1, scale1, total1));
        }
        Store(total0, (float*)c.Y, block * PackedBitPlanes.RowBlock, rows);
        Store(total1, (float*)c.Y, (block + 1) * PackedBitPlanes.RowBlock, rows);
    }

    /// <summary>The 16 rows' s and s·z of one (row block, group), decoded from their words in registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<float> Scale, Vector512<float> ScaleZero) ScaleAndScaleZero(PackedBitPlanes w, ushort* words)
    {
        Vector512<float> scale = ScaleWords.Decode16(words, w.Format);
        Vector512<float> zero = w.Symmetric
            ? Vector512.Create(w.SymmetricZero)
            : ScaleWords.Decode16(words + PackedBitPlanes.RowBlock * ScaleWords.WordsPerValue(w.Format), w.Format);
        return (scale, scale * zero);
    }

    /// <summary>The lanes of <paramref name="values"/> that are rows of W, to y from <paramref name="row"/> on.</summary>
    private static void Store(Vector512<float> values, float* y, int row, int rows)
    {
        if (row + PackedBitPlanes.RowBlock <= rows)
        {
            Avx512F.Store(y + row, values);
            return;
        }
        for (int r = row; r < rows; r++)
            y[r] = values[r - row];
    }

    /// <summary>As <see cref="GroupSum"/> for two row blocks at once, sharing each table load.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void GroupSumPair(byte* planes0, byte* planes1, float* table, int count, int bits, Vector512<float>* weights,
        out Vector512<float> sum0, out Vector512<float> sum1)
    {
        Vector512<float> low0 = Vector512<float>.Zero, high0 = Vector512<float>.Zero;
        Vector512<float> low1 = Vector512<float>.Zero, high1 = Vector512<float>.Zero;
        for (int block = 0; block < count; block++)
        {
            Sse.Prefetch0(planes0 + PrefetchDistance);
            Sse.Prefetch0(planes1 + PrefetchDistance);
            Vector512<float> low = Avx512F.LoadVector512(table), high = Avx512F.LoadVector512(table + TableFloats);
            for (int p = 0; p < bits; p++)
            {
                Vector512<float> weight = weights[p];
                Vector512<int> index0 = Avx512F.ConvertToVector512Int32(Vector128.Load(planes0 + p * PackedBitPlanes.RowBlock));
                Vector512<int> index1 = Avx512F.ConvertToVector512Int32(Vector128.Load(planes1 + p * PackedBitPlanes.RowBlock));
                low0 = Avx512F.FusedMultiplyAdd(Avx512F.PermuteVar16x32(low, index0), weight, low0);
                high0 = Avx512F.FusedMultiplyAdd(Avx512F.PermuteVar16x32(high, Avx512F.ShiftRightLogical(index0, 4)), weight, high0);
                low1 = Avx512F.FusedMultiplyAdd(Avx512F.PermuteVar16x32(low, index1), weight, low1);
                high1 = Avx512F.FusedMultiplyAdd(Avx512F.PermuteVar16x32(high, Avx512F.ShiftRightLogical(index1, 4)), weight, high1);
            }
            planes0 += bits * PackedBitPlanes.RowBlock;
            planes1 += bits * PackedBitPlanes.RowBlock;
            table += 2 * TableFloats;
        }
        sum0 = low0 + high0;
        sum1 = low1 + high1;
    }

    /// <summary>
    /// Σ_p 2^p·Σ over the group's columns with bit p set of x, for the 16 rows of a block: <paramref name="count"/> column
    /// blocks, each two table lookups per plane (low nibble: columns 0–3, high nibble: 4–7; the permute reads only the
    /// low four bits of each index lane). Four accumulators: even and odd column blocks × low and high nibble.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> GroupSum(byte* planes, float* table, int count, int bits, Vector512<float>* weights)
    {
        Vector512<float> lowEven = Vector512<float>.Zero, highEven = Vector512<float>.Zero;
        Vector512<float> lowOdd = Vector512<float>.Zero, highOdd = Vector512<float>.Zero;
        int block = 0;
        for (; block + 1 < count; block += 2)
        {
            Sse.Prefetch0(planes + PrefetchDistance);
            Vector512<float> low0 = Avx512F.LoadVector512(table), high0 = Avx512F.LoadVector512(table + TableFloats);
            Vector512<float> low1 = Avx512F.LoadVector512(table + 2 * TableFloats), high1 = Avx512F.LoadVector512(table + 3 * TableFloats);
            byte* odd = planes + bits * PackedBitPlanes.RowBlock;
            for (int p = 0; p < bits; p++)
            {
                Vector512<float> weight = weights[p];
                Vector512<int> index0 = Avx512F.ConvertToVector512Int32(Vector128.Load(planes + p * PackedBitPlanes.RowBlock));
                Vector512<int> index1 = Avx512F.ConvertToVector512Int32(Vector128.Load(odd + p * PackedBitPlanes.RowBlock));
                lowEven = Avx512F.FusedMultiplyAdd(Avx512F.PermuteVar16x32(low0, index0), weight, lowEven);
                highEven = Avx512F.FusedMultiplyAdd(Avx512F.PermuteVar16x32(high0, Avx512F.ShiftRightLogical(index0, 4)), weight, highEven);
                lowOdd = Avx512F.FusedMultiplyAdd(Avx512F.PermuteVar16x32(low1, index1), weight, lowOdd);
                highOdd = Avx512F.FusedMultiplyAdd(Avx512F.PermuteVar16x32(high1, Avx512F.ShiftRightLogical(index1, 4)), weight, highOdd);
            }
            planes += 2 * bits * PackedBitPlanes.RowBlock;
            table += 4 * TableFloats;
        }
        if (block < count)
        {
            Vector512<float> low0 = Avx512F.LoadVector512(table), high0 = Avx512F.LoadVector512(table + TableFloats);
            for (int p = 0; p < bits; p++)
            {
                Vector512<float> weight = weights[p];
                Vector512<int> index0 = Avx512F.ConvertToVector512Int32(Vector128.Load(planes + p * PackedBitPlanes.RowBlock));
                lowEven = Avx512F.FusedMultiplyAdd(Avx512F.PermuteVar16x32(low0, index0), weight, lowEven);
                highEven = Avx512F.FusedMultiplyAdd(Avx512F.PermuteVar16x32(high0, Avx512F.ShiftRightLogical(index0, 4)), weight, highEven);
            }
        }
        return (lowEven + highEven) + (lowOdd + highOdd);
    }
}
