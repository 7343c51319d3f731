using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>
/// The table-lookup product of group-scalar weights in bit planes (<see cref="PackedBitPlanes"/>) with the tables of
/// x's subset sums quantized to 8 bits, as T-MAC does: one <c>vpshufb</c> looks up 32 bytes at once, so 16 rows × 8
/// columns × 2 planes cost a load, three mask/shift operations, two byte shuffles and two widening multiply-adds —
/// about a third of the instructions of the float lookup (<see cref="BitPlaneMatVec"/>), which a machine without
/// AVX-512 needs to keep up with memory.
/// <para>
/// Per vector and group g of columns, every column block j (8 columns) has two 16-entry tables, over columns 0–3 and
/// 4–7: T[m] = Σ_{i: bit i of m} x_{8j+i}. All of a group's tables share one step t_g = max|T| / 127 and hold
/// round(T / t_g) as signed bytes. The product is then exact integer arithmetic: per row and plane p,
/// S_p = Σ_j (T_lo[j][low nibble] + T_hi[j][high nibble]) of the plane bytes, and
/// y_r = Σ_g s_g·(t_g·Σ_p 2^p·S_p − z_g·X_g) with X_g = Σ_{k∈G_g} x_k exact. The only approximation is the rounding
/// of the tables: each looked-up entry is off by at most t_g/2, so |Σ q·x − t_g·Σ_p 2^p·S_p| ≤ (2^b − 1)·j_g·t_g with
/// j_g the column blocks of the group (the errors are independent roundings, so the typical error is far smaller).
/// </para>
/// <para>
/// <see cref="Reference"/> is the scalar twin that computes the same quantized tables and integer sums one byte at a
/// time. Threads over blocks of 16 rows. Tiers: AVX2 (<c>vpshufb</c>, 16 rows × 2 planes a register) and the portable
/// 128-bit one (<see cref="Vector128.ShuffleNative(Vector128{sbyte}, Vector128{sbyte})"/>: <c>tbl</c> on ARM64,
/// <c>pshufb</c> on x86); callers check <see cref="IsSupported"/> or pass a tier that <see cref="Supports"/> accepts.
/// </para>
/// </summary>
public static unsafe partial class NibbleTableMatVec
{
    /// <summary>Vectors whose tables are built for one pass over the weights; larger batches run in passes.</summary>
    public const int MaxVectors = 8;

    /// <summary>Table bytes per column block: two 16-entry tables.</summary>
    private const int BlockTableBytes = 32;

    /// <summary>Column blocks whose 16-bit sums are added before they are widened: 128 · 2 · 127 fits a short.</summary>
    private const int BlocksPerFlush = 128;

    /// <summary>The widest tier of this kernel that the machine runs (<see cref="SimdTier.Scalar"/>: none).</summary>
    public static SimdTier Tier { get; } = SimdTiers.Supported.Where(Supports).DefaultIfEmpty(SimdTier.Scalar).Max();

    /// <summary>True when the hardware runs some tier of the kernel.</summary>
    public static bool IsSupported => Tier != SimdTier.Scalar;

    /// <summary>True when the kernel has a path for <paramref name="tier"/> and the hardware runs it.</summary>
    public static bool Supports(SimdTier tier) => tier is SimdTier.Avx2 or SimdTier.Vector128 && SimdTiers.IsSupported(tier);

    /// <summary>Effectively computes y[n, r] ≈ Σ_c W[r, c]·x[n, c] with x's tables quantized as the class describes.</summary>
    /// <exception cref="PlatformNotSupportedException">The machine runs no tier of the kernel.</exception>
    public static void MatVec(PackedBitPlanes w, ReadOnlySpan<float> x, Span<float> y, int vectors) => MatVec(w, x, y, vectors, Tier);

    /// <summary>As above on <paramref name="tier"/> (tests force the lower tier with it).</summary>
    /// <exception cref="PlatformNotSupportedException">The kernel has no path for <paramref name="tier"/> on this machine.</exception>
    public static void MatVec(PackedBitPlanes w, ReadOnlySpan<float> x, Span<float> y, int vectors, SimdTier tier)
    {
        ArgumentNullException.ThrowIfNull(w);
        PackedReference.CheckShapes(w.Rows, w.Columns, x, y, vectors);
        if (!Supports(tier))
            throw new PlatformNotSupportedException($"The 8-bit table product has no {SimdTiers.Describe(tier)} path on this machine (it needs AVX2 or 128-bit SIMD).");
        for (int first = 0; first < vectors; first += MaxVectors)
        {
            int count = Math.Min(MaxVectors, vectors - first);
            Pass(w, x.Slice(first * w.Columns, count * w.Columns), y.Slice(first * w.Rows, count * w.Rows), count, tier);
        }
    }

    /// <summary>The scalar twin of <see cref="MatVec(PackedBitPlanes, ReadOnlySpan{float}, Span{float}, int)"/>: the same tables and integer sums, one plane byte at a time.</summary>
    public static void Reference(PackedBitPlanes w, ReadOnlySpan<float> x, Span<float> y, int vectors)
    {
        ArgumentNullException.ThrowIfNull(w);
        PackedReference.CheckShapes(w.Rows, w.Columns, x, y, vectors);
        for (int first = 0; first < vectors; first += MaxVectors)
        {
            int count = Math.Min(MaxVectors, vectors - first);
            Pass(w, x.Slice(first * w.Columns, count * w.Columns), y.Slice(first * w.Rows, count * w.Rows), count, SimdTier.Scalar);
        }
    }

    /// <summary>Scratch floats and table bytes up to which a pass keeps them on the stack (small products are called per
    /// token by the hundred, where renting buffers took a noticeable share of the time).</summary>
    private const int StackFloats = 2048, StackTableBytes = 8192;

    /// <remarks>The stack buffers are left uninitialised: every value is written (x in storage order with its zero tail,
    /// every group's step and sum, every column block's tables) before it is read.</remarks>
    [SkipLocalsInit]
    private static void Pass(PackedBitPlanes w, ReadOnlySpan<float> x, Span<float> y, int vectors, SimdTier tier)
    {
        int padded = w.ColumnBlocks * PackedBitPlanes.ColumnBlock, groups = w.GroupsPerRow;
        int floats = padded + 2 * vectors * groups, tableBytes = vectors * w.ColumnBlocks * BlockTableBytes;
        if (floats <= StackFloats && tableBytes <= StackTableBytes)
        {
            Pass(w, x, y, vectors, tier, stackalloc float[floats], stackalloc sbyte[tableBytes]);
            return;
        }
        float[] scratch = ArrayPool<float>.Shared.Rent(floats);
        sbyte[] tables = ArrayPool<sbyte>.Shared.Rent(tableBytes);
        try
        {
            Pass(w, x, y, vectors, tier, scratch.AsSpan(0, floats), tables.AsSpan(0, tableBytes));
        }
        finally
        {
            ArrayPool<float>.Shared.Return(scratch);
            ArrayPool<sbyte>.Shared.Return(tables);
        }
    }

    /// <summary>One pass over the weights with <paramref name="scratch"/> (x in storage order, steps, group sums) and <paramref name="tables"/>.</summary>
    private static void Pass(PackedBitPlanes w, ReadOnlySpan<float> x, Span<float> y, int vectors, SimdTier tier, Span<float> scratch, Span<sbyte> tables)
    {
        int padded = w.ColumnBlocks * PackedBitPlanes.ColumnBlock, groups = w.GroupsPerRow;
        int tableBytes = w.ColumnBlocks * BlockTableBytes;
        Span<float> xs = scratch[..padded], steps = scratch.Slice(padded, vectors * groups), sums = scratch.Slice(padded + vectors * groups, vectors * groups);
        for (int n = 0; n < vectors; n++)
        {
            StorageOrder.Prepare(x.Slice(n * w.Columns, w.Columns), w.Permutation, xs, w.GroupSize, sums.Slice(n * groups, groups));
            BuildTables(xs, w.GroupSize / PackedBitPlanes.ColumnBlock, tables.Slice(n * tableBytes, tableBytes), steps.Slice(n * groups, groups));
        }
        fixed (float* yp = y)
        fixed (sbyte* tp = tables)
        fixed (float* stepPointer = steps)
        fixed (float* sp = sums)
        fixed (byte* planes = w.Planes)
        fixed (ushort* parameters = w.GroupParameters)
        {
            var context = new Context(w, (nint)tp, tableBytes, (nint)stepPointer, (nint)sp, (nint)planes, (nint)parameters, (nint)yp, vectors);
            long weightsPerBlock = (long)PackedBitPlanes.RowBlock * padded * vectors;
            if (tier == SimdTier.Scalar)
                ReferenceRows(context);
            else if (RowPartition.RunsSerially(w.RowBlocks, weightsPerBlock))
                Blocks(context, tier, 0, w.RowBlocks);
            else
                BlocksInParallel(context, tier, weightsPerBlock);
        }
    }

    /// <summary>The row blocks on the thread pool (its own method, so the serial path allocates no closure).</summary>
    private static void BlocksInParallel(Context context, SimdTier tier, long weightsPerBlock) =>
        RowPartition.For(context.W.RowBlocks, weightsPerBlock, (first, end) => Blocks(context, tier, first, end));

    private static void Blocks(Context context, SimdTier tier, int first, int end)
    {
        if (tier == SimdTier.Avx2)
            BlocksAvx2(context, first, end);
        else
            Blocks128(context, first, end);
    }

    /// <summary>What the block workers share: the layout and pinned addresses.</summary>
    private readonly record struct Context(PackedBitPlanes W, nint Tables, int TableBytes, nint Steps, nint GroupSums, nint Planes,
        nint Parameters, nint Y, int Vectors);

    /// <summary>
    /// The quantized tables of one vector in storage order (<paramref name="x"/>, whole column blocks): per column block
    /// 16 bytes over columns 0–3 then 16 over 4–7, and per group of <paramref name="blocksPerGroup"/> column blocks the
    /// step t_g (0 when every table entry of the group is 0). Entries are rounded to nearest, ties to even, in registers
    /// where AVX2 runs (the kernel and its twin share this builder, so they look up the same bytes).
    /// </summary>
    internal static void BuildTables(ReadOnlySpan<float> x, int blocksPerGroup, Span<sbyte> tables, Span<float> steps) =>
        BuildTables(x, blocksPerGroup, tables, steps, SimdTiers.IsSupported(SimdTier.Avx2));

    /// <summary>As above; <paramref name="useAvx2"/> false forces the scalar builder (what a machine without AVX2 runs) for tests.</summary>
    internal static void BuildTables(ReadOnlySpan<float> x, int blocksPerGroup, Span<sbyte> tables, Span<float> steps, bool useAvx2)
    {
        int columnBlocks = x.Length / PackedBitPlanes.ColumnBlock;
        if (tables.Length < columnBlocks * BlockTableBytes || steps.Length < (columnBlocks + blocksPerGroup - 1) / blocksPerGroup)
            throw new ArgumentException("The table or step buffer is too small for x.");
        if (useAvx2 && SimdTiers.IsSupported(SimdTier.Avx2))
        {
            fixed (float* xp = x)
            fixed (sbyte* tp = tables)
            fixed (float* sp = steps)
                BuildTablesAvx2(xp, columnBlocks, blocksPerGroup, tp, sp);
            return;
        }
        Span<float> entries = stackalloc float[16];
        for (int g = 0; g < steps.Length; g++)
        {
            int first = g * blocksPerGroup, end = Math.Min(columnBlocks, first + blocksPerGroup);
            float largest = 0;
            for (int quad = 2 * first; quad < 2 * end; quad++)
                largest = MathF.Max(largest, SubsetSums(x.Slice(4 * quad, 4), entries));
            float step = largest / 127f, inverse = largest > 0 ? 127f / largest : 0f;
            steps[g] = step;
            for (int quad = 2 * first; quad < 2 * end; quad++)
            {
                SubsetSums(x.Slice(4 * quad, 4), entries);
                for (int m = 0; m < 16; m++)
                    tables[16 * quad + m] = (sbyte)Math.Clamp(MathF.Round(entries[m] * inverse), -127f, 127f);
            }
        }
    }

    /// <summary>
    /// <see cref="BuildTables(ReadOnlySpan{float}, int, Span{sbyte}, Span{float})"/> in registers: a column block's two tables are four 8-float vectors (entries 8–15 are
    /// entries 0–7 plus the fourth value), kept while the group's largest magnitude is found, then scaled, converted
    /// and narrowed to bytes with saturation.
    /// </summary>
    /// <remarks>Its 8 KB of entries are written before they are read: left uninitialised, which on a 64-wide model was a
    /// tenth of a token's time spent zeroing them.</remarks>
    [SkipLocalsInit]
    private static void BuildTablesAvx2(float* x, int columnBlocks, int blocksPerGroup, sbyte* tables, float* steps)
    {
        Vector256<float> bit0 = Vector256.Create(0f, 1, 0, 1, 0, 1, 0, 1);
        Vector256<float> bit1 = Vector256.Create(0f, 0, 1, 1, 0, 0, 1, 1);
        Vector256<float> bit2 = Vector256.Create(0f, 0, 0, 0, 1, 1, 1, 1);
        Vector256<float> signless = Vector256.Create(0x7FFF_FFFF).AsSingle();
        Vector256<int> order = Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
        Vector256<float>* entries = stackalloc Vector256<float>[4 * 64]; // up to 64 column blocks a chunk
        int groups = (columnBlocks + blocksPerGroup - 1) / blocksPerGroup;
        for (int g = 0; g < groups; g++)
        {
            int first = g * blocksPerGroup, end = Math.Min(columnBlocks, first + blocksPerGroup);
            // Pass 1: the group's largest magnitude (entries rebuilt in pass 2 if the group is longer than a chunk).
            Vector256<float> largest = Vector256<float>.Zero;
            for (int j = first; j < end; j++)
            {
                Quads(x + 8 * j, bit0, bit1, bit2, entries + 4 * ((j - first) & 63));
                for (int v = 0; v < 4; v++)
                    largest = Vector256.Max(largest, entries[4 * ((j - first) & 63) + v] & signless);
            }
            float max = 0;
            for (int lane = 0; lane < 8; lane++)
                max = MathF.Max(max, largest[lane]);
            steps[g] = max / 127f;
            var inverse = Vector256.Create(max > 0 ? 127f / max : 0f);
            for (int j = first; j < end; j++)
            {
                Vector256<float>* e = entries + 4 * ((j - first) & 63);
                if (end - first > 64)
                    Quads(x + 8 * j, bit0, bit1, bit2, e);
                Vector256<int> i0 = Avx.ConvertToVector256Int32(e[0] * inverse), i1 = Avx.ConvertToVector256Int32(e[1] * inverse);
                Vector256<int> i2 = Avx.ConvertToVector256Int32(e[2] * inverse), i3 = Avx.ConvertToVector256Int32(e[3] * inverse);
                // Packs work within 128-bit lanes: the 32 bytes come out in 4-byte runs 0,2,4,6,1,3,5,7; reorder them.
                Vector256<sbyte> bytes = Avx2.PackSignedSaturate(Avx2.PackSignedSaturate(i0, i1), Avx2.PackSignedSaturate(i2, i3));
                bytes = Avx2.PermuteVar8x32(bytes.AsInt32(), order).AsSByte();
                Avx.Store(tables + BlockTableBytes * j, Vector256.Max(bytes, Vector256.Create((sbyte)-127)));
            }
        }
    }

    /// <summary>The two tables of column block x[0..8) as four 8-float vectors: entries 0–7 and 8–15 of columns 0–3, then of 4–7.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Quads(float* x, Vector256<float> bit0, Vector256<float> bit1, Vector256<float> bit2, Vector256<float>* entries)
    {
        for (int half = 0; half < 2; half++, x += 4)
        {
            Vector256<float> low = Vector256.Create(x[0]) * bit0 + Vector256.Create(x[1]) * bit1;
            low = low + Vector256.Create(x[2]) * bit2;
            entries[2 * half] = low;
            entries[2 * half + 1] = low + Vector256.Create(x[3]);
        }
    }

    /// <summary>Writes the 16 subset sums of the four values (entry m: the sum over the bits set in m); returns their largest magnitude.</summary>
    private static float SubsetSums(ReadOnlySpan<float> four, Span<float> entries)
    {
        entries[0] = 0;
        float largest = 0;
        for (int m = 1; m < 16; m++)
        {
            int low = System.Numerics.BitOperations.TrailingZeroCount(m);
            entries[m] = entries[m & (m - 1)] + four[low];
            largest = MathF.Max(largest, MathF.Abs(entries[m]));
        }
        return largest;
    }

    /// <summary>The scalar twin's rows: the same integer sums, one plane byte at a time, combined in double.</summary>
    private static void ReferenceRows(Context c)
    {
        PackedBitPlanes w = c.W;
        int groups = w.GroupsPerRow, bits = w.Bits, columnBlocks = w.ColumnBlocks, blocksPerGroup = w.GroupSize / PackedBitPlanes.ColumnBlock;
        int valueWords = ScaleWords.WordsPerValue(w.Format);
        var parameters = new ReadOnlySpan<ushort>((ushort*)c.Parameters, w.GroupParameters.Length);
        for (int n = 0; n < c.Vectors; n++)
        {
            sbyte* tables = (sbyte*)c.Tables + (long)n * c.TableBytes;
            float* steps = (float*)c.Steps + n * groups, sums = (float*)c.GroupSums + n * groups;
            for (int row = 0; row < w.Rows; row++)
            {
                int block = row / PackedBitPlanes.RowBlock, lane = row % PackedBitPlanes.RowBlock;
                double total = 0;
                for (int g = 0; g < groups; g++)
                {
                    long words = ((long)block * groups + g) * w.BlockParameterWords;
                    float scale = ScaleWords.Decode(parameters, (int)(words + lane * valueWords), w.Format);
                    float zero = w.Symmetric ? w.SymmetricZero : ScaleWords.Decode(parameters, (int)(words + (PackedBitPlanes.RowBlock + lane) * valueWords), w.Format);
                    long codeSum = 0;
                    for (int j = g * blocksPerGroup; j < Math.Min(columnBlocks, (g + 1) * blocksPerGroup); j++)
                    {
                        byte* planes = (byte*)c.Planes + ((long)block * columnBlocks + j) * bits * PackedBitPlanes.RowBlock + lane;
                        for (int p = 0; p < bits; p++)
                        {
                            byte b = planes[p * PackedBitPlanes.RowBlock];
                            codeSum += (long)(tables[BlockTableBytes * j + (b & 15)] + tables[BlockTableBytes * j + 16 + (b >> 4)]) << p;
                        }
                    }
                    total += (double)scale * ((double)steps[g] * codeSum - (double)zero * sums[g]);
                }
                ((float*)c.Y)[(long)n * w.Rows + row] = (float)total;
            }
        }
    }
}
