using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>
/// The table-lookup product of group-scalar weights in bit planes (<see cref="PackedBitPlanes"/>) and vectors: the codes
/// are never decoded. Per group g of row r, Σ_k q_k·x_k = Σ_p 2^p·Σ_{k: bit p of q_k set} x_k, and the inner sum is
/// looked up a few columns at a time in a table of the subset sums of those x values (built once per vector, as in
/// T-MAC), with the plane bytes themselves as the indices. y_r = Σ_g s_g·(Σ q·x − z_g·X_g) with X_g = Σ_{k∈G_g} x_k;
/// x is first put in storage order and zero-padded to whole column blocks. Threads over blocks of 16 rows.
/// <list type="bullet">
/// <item><see cref="SimdTier.Avx512"/>: 16-entry tables of four columns; one 512-bit permute looks up 16 rows, so 16
/// rows × 8 columns of one plane cost one byte-to-lane widening, one shift, two permutes and two FMAs. A single vector
/// takes row blocks in pairs (each table load serves 32 rows). The permutes bound it (about 30 G weights/s a core at 3
/// bits on the machine it was written on).</item>
/// <item><see cref="SimdTier.Avx2"/>: 8-entry tables of columns 0–2, 3–5 and 6–7 of each column block; one 256-bit
/// <c>vpermps</c> looks up 8 rows (it reads only the low three bits of each index lane, so the indices are the plane
/// byte shifted by 0, 3 and 6), so 8 rows × 8 columns of one plane cost one widening, two shifts, three permutes, two
/// adds and an FMA.</item>
/// <item><see cref="SimdTier.Vector128"/> (portable: ARM64 AdvSimd, SSE): 4-entry tables of column pairs; 4 rows × 8
/// columns of one plane cost four shuffles.</item>
/// </list>
/// Scales and zeros are decoded a register at a time. Callers check <see cref="IsSupported"/> or pass a tier that
/// <see cref="Supports"/> accepts.
/// </summary>
public static unsafe partial class BitPlaneMatVec
{
    /// <summary>Vectors whose tables are built for one pass over the weights; larger batches run in passes.</summary>
    public const int MaxVectors = 8;

    private const int TableFloats = 16;

    /// <summary>
    /// Bytes ahead in a row block's planes that the loops ask to have in cache (prefetches never fault past the end).
    /// The hardware prefetcher alone left 4096 × 16384 products about 10% slower on AVX-512.
    /// </summary>
    private const int PrefetchDistance = 1024;

    /// <summary>The widest tier of this kernel that the machine runs (<see cref="SimdTier.Scalar"/>: none).</summary>
    public static SimdTier Tier { get; } = SimdTiers.Supported.Where(Supports).DefaultIfEmpty(SimdTier.Scalar).Max();

    /// <summary>True when the hardware runs some tier of the kernel.</summary>
    public static bool IsSupported => Tier != SimdTier.Scalar;

    /// <summary>True when the kernel has a path for <paramref name="tier"/> and the hardware runs it.</summary>
    public static bool Supports(SimdTier tier) => tier is SimdTier.Avx512 or SimdTier.Avx2 or SimdTier.Vector128 && SimdTiers.IsSupported(tier);

    /// <summary>True when weights with groups of <paramref name="groupSize"/> columns run on this kernel on this machine.</summary>
    public static bool Runs(int groupSize) => IsSupported && PackedBitPlanes.Fits(groupSize);

    /// <summary>Effectively computes y[n, r] = Σ_c W[r, c]·x[n, c] for x <c>[vectors, Columns]</c>, y <c>[vectors, Rows]</c>.</summary>
    /// <exception cref="PlatformNotSupportedException">The machine runs no tier of the kernel.</exception>
    public static void MatVec(PackedBitPlanes w, ReadOnlySpan<float> x, Span<float> y, int vectors) => MatVec(w, x, y, vectors, Tier);

    /// <summary>As above on <paramref name="tier"/> (tests force the lower tiers with it).</summary>
    /// <exception cref="PlatformNotSupportedException">The kernel has no path for <paramref name="tier"/> on this machine.</exception>
    public static void MatVec(PackedBitPlanes w, ReadOnlySpan<float> x, Span<float> y, int vectors, SimdTier tier)
    {
        ArgumentNullException.ThrowIfNull(w);
        PackedReference.CheckShapes(w.Rows, w.Columns, x, y, vectors);
        if (!Supports(tier))
            throw new PlatformNotSupportedException($"The bit-plane product has no {SimdTiers.Describe(tier)} path on this machine (it needs 128-bit SIMD).");
        for (int first = 0; first < vectors; first += MaxVectors)
        {
            int count = Math.Min(MaxVectors, vectors - first);
            Pass(w, x.Slice(first * w.Columns, count * w.Columns), y.Slice(first * w.Rows, count * w.Rows), count, tier);
        }
    }

    /// <summary>Scratch floats up to which a pass keeps x, its tables and group sums on the stack (small products are
    /// called per token by the hundred, where renting buffers took a noticeable share of the time).</summary>
    private const int StackFloats = 4096;

    private static void Pass(PackedBitPlanes w, ReadOnlySpan<float> x, Span<float> y, int vectors, SimdTier tier)
    {
        int padded = w.ColumnBlocks * PackedBitPlanes.ColumnBlock, groups = w.GroupsPerRow;
        int tableFloats = w.ColumnBlocks * tier switch
        {
            SimdTier.Avx512 => Avx512BlockFloats,
            SimdTier.Avx2 => Avx2BlockFloats,
            _ => Vector128BlockFloats,
        };
        int floats = vectors * tableFloats + padded + vectors * groups;
        if (floats <= StackFloats)
        {
            Pass(w, x, y, vectors, tier, tableFloats, stackalloc float[floats]);
            return;
        }
        float[] scratch = ArrayPool<float>.Shared.Rent(floats);
        try
        {
            Pass(w, x, y, vectors, tier, tableFloats, scratch.AsSpan(0, floats));
        }
        finally
        {
            ArrayPool<float>.Shared.Return(scratch);
        }
    }

    /// <summary>One pass over the weights with <paramref name="scratch"/>: the tables, x in storage order, the group sums.</summary>
    private static void Pass(PackedBitPlanes w, ReadOnlySpan<float> x, Span<float> y, int vectors, SimdTier tier, int tableFloats, Span<float> scratch)
    {
        int padded = w.ColumnBlocks * PackedBitPlanes.ColumnBlock, groups = w.GroupsPerRow;
        Span<float> tables = scratch[..(vectors * tableFloats)], xs = scratch.Slice(vectors * tableFloats, padded);
        Span<float> sums = scratch.Slice(vectors * tableFloats + padded, vectors * groups);
        fixed (float* xp = xs)
        fixed (float* tp = tables)
        {
            for (int n = 0; n < vectors; n++)
            {
                StorageOrder.Prepare(x.Slice(n * w.Columns, w.Columns), w.Permutation, xs, w.GroupSize, sums.Slice(n * groups, groups));
                float* table = tp + n * tableFloats;
                if (tier == SimdTier.Avx512)
                    BuildTables512(xp, padded / 4, table);
                else if (tier == SimdTier.Avx2)
                    BuildTablesAvx2(xp, w.ColumnBlocks, table);
                else
                    BuildTables128(xp, w.ColumnBlocks, table);
            }
        }
        fixed (float* yp = y)
        fixed (float* tp = tables)
        fixed (float* sp = sums)
        fixed (byte* planes = w.Planes)
        fixed (ushort* parameters = w.GroupParameters)
        {
            var context = new Context(w, (nint)tp, tableFloats, (nint)sp, (nint)planes, (nint)parameters, (nint)yp, vectors);
            long weightsPerBlock = (long)PackedBitPlanes.RowBlock * padded * vectors;
            if (RowPartition.RunsSerially(w.RowBlocks, weightsPerBlock))
                Blocks(context, tier, 0, w.RowBlocks);
            else
                BlocksInParallel(context, tier, weightsPerBlock);
        }
    }

    /// <summary>The row blocks on the thread pool (its own method, so the serial path allocates no closure).</summary>
    private static void BlocksInParallel(Context context, SimdTier tier, long weightsPerBlock) =>
        RowPartition.For(context.W.RowBlocks, weightsPerBlock, (first, end) => Blocks(context, tier, first, end));

    /// <summary>Row blocks [<paramref name="first"/>, <paramref name="end"/>) on <paramref name="tier"/>.</summary>
    private static void Blocks(Context context, SimdTier tier, int first, int end)
    {
        if (tier == SimdTier.Avx512)
            Blocks512(context, first, end);
        else if (tier == SimdTier.Avx2)
            BlocksAvx2(context, first, end);
        else
            Blocks128(context, first, end);
    }

    /// <summary>What the block workers share: the layout and pinned addresses.</summary>
    private readonly record struct Context(PackedBitPlanes W, nint Tables, int TableFloats, nint GroupSums, nint Planes, nint Parameters, nint Y, int Vectors);
}
