using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>The AVX2 tier of <see cref="NibbleTableMatVec"/>: 16 rows × 4 columns × 2 planes per <c>vpshufb</c>.</summary>
public static unsafe partial class NibbleTableMatVec
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
    /// <paramref name="rows0"/>, 8–15 in <paramref name="rows1"/>. Planes go two at a time, one per 128-bit lane; a last
    /// odd plane goes two column blocks at a time instead (3-bit codes: 12 steps per 8 column blocks, not 16).
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
            // Plane p's weight in the even 16-bit lanes, plane p + 1's in the odd ones (a last odd plane: p's in both, as
            // its upper lane holds the next column block's plane p).
            Vector256<short> weight = Vector256.Create((int)((1 << p) | (1 << (single ? p : p + 1)) << 16)).AsInt16();
            for (int start = 0; start < count; start += BlocksPerFlush)
            {
                Vector256<short> sum0 = Vector256<short>.Zero, sum1 = Vector256<short>.Zero;
                byte* plane = planes + (long)start * stride + p * PackedBitPlanes.RowBlock;
                sbyte* table = tables + start * BlockTableBytes;
                int end = Math.Min(count, start + BlocksPerFlush);
                if (single)
                {
                    // Column blocks j and j + 1 side by side, one per 128-bit lane, each with its own tables: the odd
                    // plane costs half the lookups of a pair (a last unpaired block has a zero upper lane, entry 0 = 0).
                    for (int j = start; j < end; j += 2, plane += 2 * stride, table += 2 * BlockTableBytes)
                    {
                        bool pair = j + 1 < end;
                        Vector256<byte> bytes = Vector256.Create(Vector128.Load(plane), pair ? Vector128.Load(plane + stride) : Vector128<byte>.Zero);
                        sbyte* next = pair ? table + BlockTableBytes : table;
                        Vector256<sbyte> lowTables = Vector256.Create(Vector128.Load(table), Vector128.Load(next));
                        Vector256<sbyte> highTables = Vector256.Create(Vector128.Load(table + 16), Vector128.Load(next + 16));
                        Lookup(bytes, lowTables, highTables, nibble, ones, ref sum0, ref sum1);
                    }
                }
                else
                {
                    for (int j = start; j < end; j++, plane += stride, table += BlockTableBytes)
                        Lookup(Vector256.Load(plane), Avx2.BroadcastVector128ToVector256(table), Avx2.BroadcastVector128ToVector256(table + 16), nibble, ones, ref sum0, ref sum1);
                }
                Vector256<short> planeLow = Avx2.Permute2x128(sum0, sum1, 0x20);  // plane p, rows 0–15
                Vector256<short> planeHigh = Avx2.Permute2x128(sum0, sum1, 0x31); // plane p + 1 (or the next block's p), rows 0–15
                low = Avx2.Add(low, Avx2.MultiplyAddAdjacent(Avx2.UnpackLow(planeLow, planeHigh), weight));
                high = Avx2.Add(high, Avx2.MultiplyAddAdjacent(Avx2.UnpackHigh(planeLow, planeHigh), weight));
            }
        }
        rows0 = Avx2.Permute2x128(low, high, 0x20);
        rows1 = Avx2.Permute2x128(low, high, 0x31);
    }

    /// <summary>
    /// One 32-byte step: each byte's low nibble looked up in <paramref name="lowTables"/> (columns 0–3 of its block) and
    /// its high nibble in <paramref name="highTables"/> (columns 4–7), each row's two values side by side and added as
    /// 16-bit into <paramref name="sum0"/> (rows 0–7 of each lane) and <paramref name="sum1"/> (rows 8–15).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Lookup(Vector256<byte> bytes, Vector256<sbyte> lowTables, Vector256<sbyte> highTables, Vector256<byte> nibble, Vector256<byte> ones,
        ref Vector256<short> sum0, ref Vector256<short> sum1)
    {
        Vector256<sbyte> lowValues = Avx2.Shuffle(lowTables, (bytes & nibble).AsSByte());
        Vector256<sbyte> highValues = Avx2.Shuffle(highTables, (Avx2.ShiftRightLogical(bytes.AsUInt16(), 4).AsByte() & nibble).AsSByte());
        sum0 = Avx2.Add(sum0, Avx2.MultiplyAddAdjacent(ones, Avx2.UnpackLow(lowValues, highValues)));
        sum1 = Avx2.Add(sum1, Avx2.MultiplyAddAdjacent(ones, Avx2.UnpackHigh(lowValues, highValues)));
    }
}
