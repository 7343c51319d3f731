using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>
/// The 128-bit tier of <see cref="BitPlaneMatVec"/>, written with the portable <see cref="Vector128"/> API only (AdvSimd
/// <c>tbl</c> on ARM64, <c>vpermilps</c>/SSE on x86): 4 rows × 2 columns per shuffle, four 4-entry tables per column block.
/// </summary>
public static unsafe partial class BitPlaneMatVec
{
    /// <summary>Floats of the 128-bit tables per column block: 4-entry tables over columns 0–1, 2–3, 4–5 and 6–7.</summary>
    private const int Vector128BlockFloats = 16;

    /// <summary>Rows per 128-bit register: a quarter of a row block.</summary>
    private const int QuarterBlock = PackedBitPlanes.RowBlock / 4;

    /// <summary>
    /// Per column block j of x (8 values), four 4-float tables: table t at index m holds the sum of x[8j + 2t + i] over
    /// the bits i set in m (absent terms are exact zeros).
    /// </summary>
    internal static void BuildTables128(float* x, int columnBlocks, float* tables)
    {
        Vector128<float> bit0 = Vector128.Create(0f, 1, 0, 1);
        Vector128<float> bit1 = Vector128.Create(0f, 0, 1, 1);
        for (int j = 0; j < columnBlocks; j++)
        {
            for (int t = 0; t < 4; t++, x += 2, tables += QuarterBlock)
                (Vector128.Create(x[0]) * bit0 + Vector128.Create(x[1]) * bit1).Store(tables);
        }
    }

    private static void Blocks128(Context c, int first, int end)
    {
        Vector128<float>* weights = stackalloc Vector128<float>[8];
        for (int p = 0; p < 8; p++)
            weights[p] = Vector128.Create((float)(1 << p));
        Vector128<float>* totals = stackalloc Vector128<float>[4 * MaxVectors];
        Vector128<float>* work = stackalloc Vector128<float>[12]; // four code sums, four scales, four s·z
        for (int block = first; block < end; block++)
            Block128(c, block, weights, totals, work, work + 4);
    }

    /// <summary>One row block (four registers of 4 rows) times every vector.</summary>
    private static void Block128(Context c, int block, Vector128<float>* weights, Vector128<float>* totals, Vector128<float>* codeSums, Vector128<float>* scales)
    {
        PackedBitPlanes w = c.W;
        int groups = w.GroupsPerRow, bits = w.Bits, vectors = c.Vectors, columnBlocks = w.ColumnBlocks;
        int blocksPerGroup = w.GroupSize / PackedBitPlanes.ColumnBlock, blockWords = w.BlockParameterWords;
        int valueWords = ScaleWords.WordsPerValue(w.Format), zeroOffset = PackedBitPlanes.RowBlock * valueWords;
        for (int n = 0; n < 4 * vectors; n++)
            totals[n] = Vector128<float>.Zero;
        byte* planes = (byte*)c.Planes + (long)block * columnBlocks * bits * PackedBitPlanes.RowBlock;
        ushort* parameters = (ushort*)c.Parameters + (long)block * groups * blockWords;
        float* sums = (float*)c.GroupSums;
        for (int g = 0; g < groups; g++, parameters += blockWords)
        {
            int firstBlock = g * blocksPerGroup, count = Math.Min(columnBlocks, firstBlock + blocksPerGroup) - firstBlock;
            byte* groupPlanes = planes + (long)firstBlock * bits * PackedBitPlanes.RowBlock;
            for (int q = 0; q < 4; q++)
            {
                ushort* words = parameters + q * QuarterBlock * valueWords;
                scales[q] = ScaleWords.Decode4(words, w.Format);
                Vector128<float> zero = w.Symmetric ? Vector128.Create(w.SymmetricZero) : ScaleWords.Decode4(words + zeroOffset, w.Format);
                scales[4 + q] = scales[q] * zero;
            }
            for (int n = 0; n < vectors; n++)
            {
                float* table = (float*)c.Tables + (long)n * c.TableFloats + firstBlock * Vector128BlockFloats;
                GroupSum128(groupPlanes, table, count, bits, weights, codeSums);
                var groupSum = Vector128.Create(sums[n * groups + g]);
                for (int q = 0; q < 4; q++)
                    totals[4 * n + q] += codeSums[q] * scales[q] - scales[4 + q] * groupSum;
            }
        }
        for (int n = 0; n < vectors; n++)
        {
            float* y = (float*)c.Y + (long)n * w.Rows;
            for (int q = 0; q < 4; q++)
                Store4(totals[4 * n + q], y, block * PackedBitPlanes.RowBlock + q * QuarterBlock, w.Rows);
        }
    }

    /// <summary>The lanes of <paramref name="values"/> that are rows of W, to y from <paramref name="row"/> on.</summary>
    private static void Store4(Vector128<float> values, float* y, int row, int rows)
    {
        if (row + QuarterBlock <= rows)
        {
            values.Store(y + row);
            return;
        }
        for (int r = row; r < rows; r++)
            y[r] = values[r - row];
    }

    /// <summary>
    /// Σ_p 2^p·Σ over the group's columns with bit p set of x, for the four registers of rows of a row block
    /// (<paramref name="sums"/>[q]: rows 4q … 4q + 3): four table lookups per plane and register.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void GroupSum128(byte* planes, float* table, int count, int bits, Vector128<float>* weights, Vector128<float>* sums)
    {
        Vector128<float> total0 = Vector128<float>.Zero, total1 = Vector128<float>.Zero;
        Vector128<float> total2 = Vector128<float>.Zero, total3 = Vector128<float>.Zero;
        for (int block = 0; block < count; block++)
        {
            Vector128<float> t0 = Vector128.Load(table), t1 = Vector128.Load(table + QuarterBlock);
            Vector128<float> t2 = Vector128.Load(table + 2 * QuarterBlock), t3 = Vector128.Load(table + 3 * QuarterBlock);
            for (int p = 0; p < bits; p++)
            {
                (Vector128<ushort> low, Vector128<ushort> high) = Vector128.Widen(Vector128.Load(planes + p * PackedBitPlanes.RowBlock));
                (Vector128<uint> index0, Vector128<uint> index1) = Vector128.Widen(low);
                (Vector128<uint> index2, Vector128<uint> index3) = Vector128.Widen(high);
                Vector128<float> weight = weights[p];
                total0 = Vector128.MultiplyAddEstimate(Lookup(t0, t1, t2, t3, index0.AsInt32()), weight, total0);
                total1 = Vector128.MultiplyAddEstimate(Lookup(t0, t1, t2, t3, index1.AsInt32()), weight, total1);
                total2 = Vector128.MultiplyAddEstimate(Lookup(t0, t1, t2, t3, index2.AsInt32()), weight, total2);
                total3 = Vector128.MultiplyAddEstimate(Lookup(t0, t1, t2, t3, index3.AsInt32()), weight, total3);
            }
            planes += bits * PackedBitPlanes.RowBlock;
            table += Vector128BlockFloats;
        }
        sums[0] = total0;
        sums[1] = total1;
        sums[2] = total2;
        sums[3] = total3;
    }

    /// <summary>Σ over the bits set in each lane's plane byte of the column's x: four 2-column lookups (indices masked to 0–3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Lookup(Vector128<float> t0, Vector128<float> t1, Vector128<float> t2, Vector128<float> t3, Vector128<int> bits)
    {
        Vector128<int> three = Vector128.Create(3);
        return (Vector128.ShuffleNative(t0, bits & three) + Vector128.ShuffleNative(t1, (bits >>> 2) & three))
            + (Vector128.ShuffleNative(t2, (bits >>> 4) & three) + Vector128.ShuffleNative(t3, bits >>> 6));
    }
}
