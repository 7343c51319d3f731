using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>The AVX2 tier of <see cref="NibbleTableMatVec"/>: 16 rows × 4 columns × 2 planes per <c>vpshufb</c>.</summary>
internal static unsafe partial class NibbleTableMatVec
{
    private static void BlocksAvx2(Context c, int first, int end)
    {
        Vector256<float>* totals = stackalloc Vector256<float>[2 * MaxVectors];
        for (int block = first; block < end; block++)
            BlockAvx2(c, block, totals);
    }

    /// <summary>One row block (two registers of 8 rows) times every vector.</summary>
    private static void BlockAvx2(Context c, int block, Vector256<float>* totals)
    {
        PackedBitPlanes w = c.W;
        int groups = w.GroupsPerRow, bits = w.Bits, vectors = c.Vectors, columnBlocks = w.ColumnBlocks;
        int blocksPerGroup = w.GroupSize / PackedBitPlanes.ColumnBlock, blockWords = w.BlockParameterWords;
        int halfWords = PackedBitPlanes.RowBlock / 2 * ScaleWords.WordsPerValue(w.Format);
        for (int n = 0; n < 2 * vectors; n++)
            totals[n] = Vector256<float>.Zero;
        byte* planes = (byte*)c.Planes + (long)block * columnBlocks * bits * PackedBitPlanes.RowBlock;
        ushort* parameters = (ushort*)c.Parameters + (long)block * groups * blockWords;
        for (int g = 0; g < groups; g++, parameters += blockWords)
        {
            int firstBlock = g * blocksPerGroup, count = Math.Min(columnBlocks, firstBlock + blocksPerGroup) - firstBlock;
            byte* groupPlanes = planes + (long)firstBlock * bits * PackedBitPlanes.RowBlock;
            Vector256<float> scale0 = ScaleWords.Decode8(parameters, w.Format), scale1 = ScaleWords.Decode8(parameters + halfWords, w.Format);
            Vector256<float> zero0 = w.Symmetric ? Vector256.Create(w.SymmetricZero) : ScaleWords.Decode8(parameters + 2 * halfWords, w.Format);
            Vector256<float> zero1 = w.Symmetric ? zero0 : ScaleWords.Decode8(parameters + 3 * halfWords, w.Format);
            Vector256<float> scaleZero0 = scale0 * zero0, scaleZero1 = scale1 * zero1;
            for (int n = 0; n < vectors; n++)
            {
                sbyte* tables = (sbyte*)c.Tables + (long)n * c.TableBytes + firstBlock * BlockTableBytes;
                GroupSumAvx2(groupPlanes, tables, count, bits, out Vector256<int> rows0, out Vector256<int> rows1);
                var step = Vector256.Create(((float*)c.Steps)[n * groups + g]);
                var groupSum = Vector256.Create(((float*)c.GroupSums)[n * groups + g]);
                totals[2 * n] = Fma.MultiplyAddNegated(scaleZero0, groupSum, Fma.MultiplyAdd(Avx.ConvertToVector256Single(rows0), scale0 * step, totals[2 * n]));
                totals[2 * n + 1] = Fma.MultiplyAddNegated(scaleZero1, groupSum, Fma.MultiplyAdd(Avx.ConvertToVector256Single(rows1), scale1 * step, totals[2 * n + 1]));
            }
        }
        for (int n = 0; n < vectors; n++)
        {
            float* y = (float*)c.Y + (long)n * w.Rows;
            Store8(totals[2 * n], y, block * PackedBitPlanes.RowBlock, w.Rows);
            Store8(totals[2 * n + 1], y, block * PackedBitPlanes.RowBlock + 8, w.Rows);
        }
    }

    /// <summary>The lanes of <paramref name="values"/> that are rows of W, to y from <paramref name="row"/> on.</summary>
    private static void Store8(Vector256<float> values, float* y, int row, int rows)
    {
        if (row + 8 <= rows)
        {
            Avx.Store(y + row, values);
            return;
        }
        for (int r = row; r < rows; r++)
            y[r] = values[r - row];
    }

    /// <summary>
    /// Σ_p 2^p·S_p for the 16 rows of a row block over <paramref name="count"/> column blocks, as integers: rows 0–7 in
    /// <paramref name="rows0"/>, 8–15 in <paramref name="rows1"/>. Planes go two at a time, one per 128-bit lane (a last
    /// odd plane with a zero upper lane, which looks up entry 0 = 0).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void GroupSumAvx2(byte* planes, sbyte* tables, int count, int bits, out Vector256<int> rows0, out Vector256<int> rows1)
    {
        Vector256<int> low = Vector256<int>.Zero, high = Vector256<int>.Zero; // rows 0–3 | 8–11, rows 4–7 | 12–15
        Vector256<byte> nibble = Vector256.Create((byte)0x0F), ones = Vector256.Create((byte)1);
        int stride = bits * PackedBitPlanes.RowBlock;
        for (int p = 0; p < bits; p += 2)
        {
            bool single = p + 1 == bits;
            // Plane p's weight in the even 16-bit lanes, plane p + 1's in the odd ones.
            Vector256<short> weight = Vector256.Create((int)((1 << p) | (1 << (p + 1)) << 16)).AsInt16();
            for (int start = 0; start < count; start += BlocksPerFlush)
            {
                Vector256<short> sum0 = Vector256<short>.Zero, sum1 = Vector256<short>.Zero;
                byte* plane = planes + (long)start * stride + p * PackedBitPlanes.RowBlock;
                sbyte* table = tables + start * BlockTableBytes;
                int end = Math.Min(count, start + BlocksPerFlush);
                for (int j = start; j < end; j++, plane += stride, table += BlockTableBytes)
                {
                    Vector256<byte> bytes = single ? Vector128.Load(plane).ToVector256() : Vector256.Load(plane);
                    Vector256<sbyte> lowIndex = (bytes & nibble).AsSByte();
                    Vector256<sbyte> highIndex = (Avx2.ShiftRightLogical(bytes.AsUInt16(), 4).AsByte() & nibble).AsSByte();
                    Vector256<sbyte> lowValues = Avx2.Shuffle(Avx2.BroadcastVector128ToVector256(table), lowIndex);
                    Vector256<sbyte> highValues = Avx2.Shuffle(Avx2.BroadcastVector128ToVector256(table + 16), highIndex);
                    // Each row's two lookups side by side, then added as 16-bit: lane 0 plane p, lane 1 plane p + 1.
                    sum0 = Avx2.Add(sum0, Avx2.MultiplyAddAdjacent(ones, Avx2.UnpackLow(lowValues, highValues)));   // rows 0–7
                    sum1 = Avx2.Add(sum1, Avx2.MultiplyAddAdjacent(ones, Avx2.UnpackHigh(lowValues, highValues)));  // rows 8–15
                }
                Vector256<short> planeLow = Avx2.Permute2x128(sum0, sum1, 0x20);  // plane p, rows 0–15
                Vector256<short> planeHigh = Avx2.Permute2x128(sum0, sum1, 0x31); // plane p + 1, rows 0–15
                low = Avx2.Add(low, Avx2.MultiplyAddAdjacent(Avx2.UnpackLow(planeLow, planeHigh), weight));
                high = Avx2.Add(high, Avx2.MultiplyAddAdjacent(Avx2.UnpackHigh(planeLow, planeHigh), weight));
            }
        }
        rows0 = Avx2.Permute2x128(low, high, 0x20);
        rows1 = Avx2.Permute2x128(low, high, 0x31);
    }
}
