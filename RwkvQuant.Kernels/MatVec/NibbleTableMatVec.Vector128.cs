using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>
/// The 128-bit tier of <see cref="NibbleTableMatVec"/>, written with the portable <see cref="Vector128"/> API only: a
/// byte shuffle (<c>tbl</c> on ARM64, <c>pshufb</c> on x86) looks up one 16-entry table for the 16 rows of a plane,
/// the lookups are widened to 16 bits and summed per row, then to 32 bits once per plane and group.
/// </summary>
public static unsafe partial class NibbleTableMatVec
{
    private static void Blocks128(Context c, int first, int end)
    {
        Vector128<float>* totals = stackalloc Vector128<float>[4 * MaxVectors];
        Vector128<float>* work = stackalloc Vector128<float>[8]; // four scales, four s·z
        Vector128<int>* rows = stackalloc Vector128<int>[4];
        for (int block = first; block < end; block++)
            Block128(c, block, totals, work, rows);
    }

    /// <summary>One row block (four registers of 4 rows) times every vector.</summary>
    private static void Block128(Context c, int block, Vector128<float>* totals, Vector128<float>* scales, Vector128<int>* rows)
    {
        PackedBitPlanes w = c.W;
        int groups = w.GroupsPerRow, bits = w.Bits, vectors = c.Vectors, columnBlocks = w.ColumnBlocks;
        int blocksPerGroup = w.GroupSize / PackedBitPlanes.ColumnBlock, blockWords = w.BlockParameterWords;
        int valueWords = ScaleWords.WordsPerValue(w.Format), zeroOffset = PackedBitPlanes.RowBlock * valueWords;
        for (int n = 0; n < 4 * vectors; n++)
            totals[n] = Vector128<float>.Zero;
        byte* planes = (byte*)c.Planes + (long)block * columnBlocks * bits * PackedBitPlanes.RowBlock;
        ushort* parameters = (ushort*)c.Parameters + (long)block * groups * blockWords;
        for (int g = 0; g < groups; g++, parameters += blockWords)
        {
            int firstBlock = g * blocksPerGroup, count = Math.Min(columnBlocks, firstBlock + blocksPerGroup) - firstBlock;
            byte* groupPlanes = planes + (long)firstBlock * bits * PackedBitPlanes.RowBlock;
            for (int q = 0; q < 4; q++)
            {
                ushort* words = parameters + q * 4 * valueWords;
                scales[q] = ScaleWords.Decode4(words, w.Format);
                Vector128<float> zero = w.Symmetric ? Vector128.Create(w.SymmetricZero) : ScaleWords.Decode4(words + zeroOffset, w.Format);
                scales[4 + q] = scales[q] * zero;
            }
            for (int n = 0; n < vectors; n++)
            {
                sbyte* tables = (sbyte*)c.Tables + (long)n * c.TableBytes + firstBlock * BlockTableBytes;
                GroupSum128(groupPlanes, tables, count, bits, rows);
                var step = Vector128.Create(((float*)c.Steps)[n * groups + g]);
                var groupSum = Vector128.Create(((float*)c.GroupSums)[n * groups + g]);
                for (int q = 0; q < 4; q++)
                    totals[4 * n + q] += Vector128.ConvertToSingle(rows[q]) * (scales[q] * step) - scales[4 + q] * groupSum;
            }
        }
        for (int n = 0; n < vectors; n++)
        {
            float* y = (float*)c.Y + (long)n * w.Rows;
            for (int q = 0; q < 4; q++)
            {
                int row = block * PackedBitPlanes.RowBlock + 4 * q;
                if (row + 4 <= w.Rows)
                {
                    totals[4 * n + q].Store(y + row);
                    continue;
                }
                for (int r = row; r < w.Rows; r++)
                    y[r] = totals[4 * n + q][r - row];
            }
        }
    }

    /// <summary>Σ_p 2^p·S_p for the 16 rows of a row block as integers, rows 4q … 4q + 3 in <paramref name="rows"/>[q].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void GroupSum128(byte* planes, sbyte* tables, int count, int bits, Vector128<int>* rows)
    {
        Vector128<int> rows0 = Vector128<int>.Zero, rows1 = Vector128<int>.Zero, rows2 = Vector128<int>.Zero, rows3 = Vector128<int>.Zero;
        Vector128<byte> nibble = Vector128.Create((byte)0x0F);
        int stride = bits * PackedBitPlanes.RowBlock;
        for (int p = 0; p < bits; p++)
        {
            for (int start = 0; start < count; start += BlocksPerFlush)
            {
                Vector128<short> sum0 = Vector128<short>.Zero, sum1 = Vector128<short>.Zero; // rows 0–7, 8–15
                byte* plane = planes + (long)start * stride + p * PackedBitPlanes.RowBlock;
                sbyte* table = tables + start * BlockTableBytes;
                int end = Math.Min(count, start + BlocksPerFlush);
                for (int j = start; j < end; j++, plane += stride, table += BlockTableBytes)
                {
                    Vector128<byte> bytes = Vector128.Load(plane);
                    Vector128<sbyte> low = Vector128.ShuffleNative(Vector128.Load(table), (bytes & nibble).AsSByte());
                    Vector128<sbyte> high = Vector128.ShuffleNative(Vector128.Load(table + 16), Vector128.ShiftRightLogical(bytes, 4).AsSByte());
                    (Vector128<short> low0, Vector128<short> low1) = Vector128.Widen(low);
                    (Vector128<short> high0, Vector128<short> high1) = Vector128.Widen(high);
                    sum0 += low0 + high0;
                    sum1 += low1 + high1;
                }
                (Vector128<int> a, Vector128<int> b) = Vector128.Widen(sum0);
                (Vector128<int> d, Vector128<int> e) = Vector128.Widen(sum1);
                rows0 += a << p;
                rows1 += b << p;
                rows2 += d << p;
                rows3 += e << p;
            }
        }
        rows[0] = rows0;
        rows[1] = rows1;
        rows[2] = rows2;
        rows[3] = rows3;
    }
}
