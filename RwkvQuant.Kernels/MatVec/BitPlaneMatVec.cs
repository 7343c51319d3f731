using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>
/// The table-lookup product of group-scalar weights in bit planes (<see cref="PackedBitPlanes"/>) and vectors: the codes
/// are never decoded. Per group g of row r, Σ_k q_k·x_k = Σ_p 2^p·Σ_{k: bit p of q_k set} x_k, and the inner sum is
/// looked up four columns at a time in a 16-entry table of the subset sums of those four x values (built once per
/// vector, as in T-MAC). A 512-bit permute looks up one table for 16 rows at once with indices taken straight from the
/// plane bytes, so 16 rows × 8 columns of one plane cost one byte-to-lane widening, one shift, two permutes and two
/// FMAs. y_r = Σ_g s_g·(Σ q·x − z_g·X_g) with X_g = Σ_{k∈G_g} x_k; x is first
/// put in storage order and zero-padded to whole column blocks. A single vector takes row blocks in pairs (each table
/// load serves 32 rows); scales and zeros are decoded 16 at a time in registers. Threads over blocks of 16 rows.
/// The 512-bit permutes bound it (about 30 G weights/s a core at 3 bits here). AVX-512 only: callers check
/// <see cref="IsSupported"/>.
/// </summary>
internal static unsafe class BitPlaneMatVec
{
    /// <summary>Vectors whose tables are built for one pass over the weights; larger batches run in passes.</summary>
    public const int MaxVectors = 8;

    private const int TableFloats = 16;

    /// <summary>
    /// Bytes ahead in a row block's planes that the loops ask to have in cache (prefetches never fault past the end).
    /// The hardware prefetcher alone left 4096 × 16384 products about 10% slower here.
    /// </summary>
    private const int PrefetchDistance = 1024;

    /// <summary>True when the hardware runs the kernel.</summary>
    public static bool IsSupported => Avx512F.IsSupported;

    /// <summary>True when weights with groups of <paramref name="groupSize"/> columns run on this kernel on this machine.</summary>
    public static bool Runs(int groupSize) => IsSupported && PackedBitPlanes.Fits(groupSize);

    /// <summary>Effectively computes y[n, r] = Σ_c W[r, c]·x[n, c] for x <c>[vectors, Columns]</c>, y <c>[vectors, Rows]</c>.</summary>
    /// <exception cref="PlatformNotSupportedException">The machine has no AVX-512.</exception>
    public static void MatVec(PackedBitPlanes w, ReadOnlySpan<float> x, Span<float> y, int vectors)
    {
        ArgumentNullException.ThrowIfNull(w);
        PackedReference.CheckShapes(w.Rows, w.Columns, x, y, vectors);
        if (!IsSupported)
            throw new PlatformNotSupportedException("The bit-plane product needs AVX-512.");
        for (int first = 0; first < vectors; first += MaxVectors)
        {
            int count = Math.Min(MaxVectors, vectors - first);
            Pass(w, x.Slice(first * w.Columns, count * w.Columns), y.Slice(first * w.Rows, count * w.Rows), count);
        }
    }

    private static void Pass(PackedBitPlanes w, ReadOnlySpan<float> x, Span<float> y, int vectors)
    {
        int padded = w.ColumnBlocks * PackedBitPlanes.ColumnBlock, groups = w.GroupsPerRow;
        int tableFloats = padded / 4 * TableFloats;
        float[] xs = ArrayPool<float>.Shared.Rent(padded);
        float[] tables = ArrayPool<float>.Shared.Rent(vectors * tableFloats);
        float[] sums = ArrayPool<float>.Shared.Rent(vectors * groups);
        try
        {
            fixed (float* xp = xs)
            fixed (float* tp = tables)
            {
                for (int n = 0; n < vectors; n++)
                {
                    StorageOrder.Prepare(x.Slice(n * w.Columns, w.Columns), w.Permutation, xs.AsSpan(0, padded), w.GroupSize, sums.AsSpan(n * groups, groups));
                    BuildTables(xp, padded / 4, tp + n * tableFloats);
                }
            }
            fixed (float* yp = y)
            fixed (float* tp = tables)
            fixed (float* sp = sums)
            fixed (byte* planes = w.Planes)
            fixed (ushort* parameters = w.GroupParameters)
            {
                var context = new Context(w, (nint)tp, tableFloats, (nint)sp, (nint)planes, (nint)parameters, (nint)yp, vectors);
                RowPartition.For(w.RowBlocks, (long)PackedBitPlanes.RowBlock * padded * vectors, (first, end) => Blocks(context, first, end));
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(xs);
            ArrayPool<float>.Shared.Return(tables);
            ArrayPool<float>.Shared.Return(sums);
        }
    }

    /// <summary>What the block workers share: the layout and pinned addresses.</summary>
    private readonly record struct Context(PackedBitPlanes W, nint Tables, int TableFloats, nint GroupSums, nint Planes, nint Parameters, nint Y, int Vectors);

    /// <summary>
    /// Table j of x (16 floats) holds at index m the sum of x[4j + i] over the bits i set in m, added in order of i
    /// (absent terms are exact zeros).
    /// </summary>
    internal static void BuildTables(float* x, int quads, float* tables)
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

    private static void Blocks(Context c, int first, int end)
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
