using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>
/// The fast CPU product of vector-quantized weights and up to <see cref="MaxVectors"/> vectors, reading only the packed
/// codes and the stored codebooks. Rows are taken one codebook row-group at a time: that group's codebooks are decoded
/// to float32 once (2^b·d values each), then every row of the group looks its codes up. With AVX-512, when a codebook
/// holds at most 32 values (d = 1 with b ≤ 5, d = 2 with b ≤ 4, d = 4 with b ≤ 3; the quantizers' default d = 1, b = 3
/// holds 8) and the group width is a multiple of 16, the lookup is an in-register permute (vpermps / vpermt2ps) of 16
/// decoded indices. With AVX2, for 1-D codebooks of at most 16 entries (b ≤ 4: the quantizers' default b = 3 holds 8)
/// and group widths a multiple of 8, the 8 codes of an 8-column segment (b whole bytes) are split into lanes by one
/// variable shift and looked up by one 8-entry <c>vpermps</c> (two and a blend for 16 entries); larger 1-D codebooks
/// (b ≤ 8) and 2-D ones (b ≤ 8, group widths a multiple of 16) are read from the decoded table by loads and gathers
/// (VectorCodesMatVec.TableLoads.cs). On 128-bit machines
/// (ARM64 AdvSimd, SSE) the same 1-D codebooks in groups a multiple of 16 wide are looked up 16 codes at a time in byte
/// planes (VectorCodesMatVec.Vector128.cs), and 2-D codebooks (b ≤ 8) one 64-bit pair load per code. Otherwise a scalar loop looks up each code. <see cref="TierFor"/> picks the
/// widest tier that takes a layout on this machine.
/// </summary>
public static unsafe partial class VectorCodesMatVec
{
    /// <summary>Vectors multiplied in one pass over the weights.</summary>
    public const int MaxVectors = 8;

    /// <summary>Codebook values one in-register lookup can hold.</summary>
    private const int RegisterTable = CentroidLookup.TableLength;

    /// <summary>Codebook entries the AVX2 lookup holds (two 8-entry registers).</summary>
    private const int Avx2Table = 16;

    /// <summary>
    /// The widest tier whose lookup takes codes of <paramref name="dimension"/> × <paramref name="bits"/> in groups of
    /// <paramref name="groupColumns"/> columns on this machine: <see cref="SimdTier.Avx512"/> (see
    /// <see cref="CentroidLookup.Fits(int, int, int)"/>), <see cref="SimdTier.Avx2"/> (b ≤ 8 with d = 1 and group widths
    /// a multiple of 8, or d = 2 and a multiple of 16), <see cref="SimdTier.Vector128"/> (d = 1, b ≤ 4, or d = 2, b ≤ 8; group width a multiple of 16), else
    /// <see cref="SimdTier.Scalar"/>.
    /// </summary>
    public static SimdTier TierFor(int dimension, int bits, int groupColumns) =>
        CentroidLookup.Fits(dimension, bits, groupColumns) ? SimdTier.Avx512
        : Takes(SimdTier.Avx2, dimension, bits, groupColumns) && SimdTiers.IsSupported(SimdTier.Avx2) ? SimdTier.Avx2
        : Takes(SimdTier.Vector128, dimension, bits, groupColumns) && Runs(SimdTier.Vector128) ? SimdTier.Vector128
        : SimdTier.Scalar;

    /// <summary>True when <paramref name="tier"/>'s lookup takes such codes (whether or not this machine runs the tier).</summary>
    public static bool Takes(SimdTier tier, int dimension, int bits, int groupColumns) => tier switch
    {
        SimdTier.Avx512 => dimension is 1 or 2 or 4 && (1 << bits) * dimension <= RegisterTable && groupColumns % 16 == 0,
        SimdTier.Avx2 => bits <= TableLoadBits && (dimension == 1 && groupColumns % 8 == 0 || dimension == 2 && groupColumns % 16 == 0),
        SimdTier.Vector128 => (dimension == 1 && bits <= 4 || dimension == 2 && bits <= TableLoadBits) && groupColumns % 16 == 0,
        SimdTier.Scalar => true,
        _ => false,
    };

    /// <summary>True when this machine runs <paramref name="tier"/>'s lookup.</summary>
    public static bool Runs(SimdTier tier) => SimdTiers.IsSupported(tier) && (tier != SimdTier.Vector128 || Interleaves);

    /// <summary>Effectively computes y[n, r] = Σ_c W[r, c]·x[n, c] for x <c>[vectors, Columns]</c>, y <c>[vectors, Rows]</c>.</summary>
    public static void MatVec(PackedVectorCodes w, ReadOnlySpan<float> x, Span<float> y, int vectors)
    {
        ArgumentNullException.ThrowIfNull(w);
        MatVec(w, x, y, vectors, TierFor(w.Dimension, w.Bits, w.GroupColumns));
    }

    /// <summary>As above on <paramref name="tier"/> (tests force the lower tiers with it).</summary>
    /// <exception cref="PlatformNotSupportedException">This machine does not run <paramref name="tier"/>.</exception>
    /// <exception cref="ArgumentException">The tier's lookup does not take this layout.</exception>
    public static void MatVec(PackedVectorCodes w, ReadOnlySpan<float> x, Span<float> y, int vectors, SimdTier tier)
    {
        ArgumentNullException.ThrowIfNull(w);
        PackedReference.CheckShapes(w.Rows, w.Columns, x, y, vectors);
        if (!Runs(tier))
            throw new PlatformNotSupportedException($"This machine does not run the {SimdTiers.Describe(tier)} tier of the VQ product.");
        if (!Takes(tier, w.Dimension, w.Bits, w.GroupColumns))
            throw new ArgumentException($"The {SimdTiers.Describe(tier)} VQ lookup does not take d = {w.Dimension}, b = {w.Bits}, groups of {w.GroupColumns} columns.", nameof(tier));
        for (int first = 0; first < vectors; first += MaxVectors)
        {
            int count = Math.Min(MaxVectors, vectors - first);
            Pass(w, x.Slice(first * w.Columns, count * w.Columns), y.Slice(first * w.Rows, count * w.Rows), count, tier);
        }
    }

    private static void Pass(PackedVectorCodes w, ReadOnlySpan<float> x, Span<float> y, int vectors, SimdTier tier)
    {
        int padded = (w.Columns + 15) / 16 * 16;
        float[] xs = ArrayPool<float>.Shared.Rent(vectors * padded);
        try
        {
            for (int n = 0; n < vectors; n++)
            {
                x.Slice(n * w.Columns, w.Columns).CopyTo(xs.AsSpan(n * padded));
                xs.AsSpan(n * padded + w.Columns, padded - w.Columns).Clear();
            }
            int rowGroups = (w.Rows + w.GroupRows - 1) / w.GroupRows;
            fixed (float* xp = xs)
            fixed (float* yp = y)
            fixed (byte* cp = w.Codes)
            {
                var context = new Context(w, (nint)xp, padded, (nint)cp, (nint)yp, vectors,
                    tier == SimdTier.Avx512 ? new CentroidLookup(w.Dimension, w.Bits) : default);
                int stride = tier switch
                {
                    SimdTier.Avx512 => RegisterTable,
                    SimdTier.Avx2 when !Permutes(w.Dimension, w.Bits) => w.CodebookLength,
                    SimdTier.Avx2 => w.Bits == 4 ? Avx2Table : Avx2Table / 2,
                    SimdTier.Vector128 when w.Dimension == 2 => w.CodebookLength,
                    SimdTier.Vector128 => PlaneTable,
                    _ => w.CodebookLength,
                };
                var splitter = tier == SimdTier.Vector128 && w.Dimension == 1 ? new CodeSplitter(w.Bits) : default;
                RowPartition.For(rowGroups, (long)w.GroupRows * padded * vectors, (first, end) =>
                {
                    float[] tables = ArrayPool<float>.Shared.Rent(w.ColumnGroups * stride);
                    try
                    {
                        // Zero padding of register tables past the codebook stays zero.
                        Array.Clear(tables, 0, w.ColumnGroups * stride);
                        for (int rowGroup = first; rowGroup < end; rowGroup++)
                            RowGroup(context, rowGroup, tier, tables, stride, splitter);
                    }
                    finally
                    {
                        ArrayPool<float>.Shared.Return(tables);
                    }
                });
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(xs);
        }
    }

    /// <summary>What the row workers share: the layout, pinned addresses and the in-register lookup (built once: its
    /// decoders' constants cost more to make than a small row takes to multiply).</summary>
    private readonly record struct Context(PackedVectorCodes W, nint X, int Padded, nint Codes, nint Y, int Vectors, CentroidLookup Lookup);

    private static void RowGroup(Context c, int rowGroup, SimdTier tier, float[] tables, int stride, in CodeSplitter splitter)
    {
        PackedVectorCodes w = c.W;
        if (tier == SimdTier.Scalar && !TablesPayOff(w))
        {
            int last = Math.Min(w.Rows, (rowGroup + 1) * w.GroupRows);
            for (int row = rowGroup * w.GroupRows; row < last; row++)
                RowDirect(c, row);
            return;
        }
        int end = Math.Min(w.Rows, (rowGroup + 1) * w.GroupRows);
        fixed (float* table = tables)
        {
            // This row-group's codebooks as float32 [columnGroups, stride].
            w.DecodeCodebooks(rowGroup * w.ColumnGroups, w.ColumnGroups, tables, stride);
            if (tier == SimdTier.Vector128 && w.Dimension == 1)
            {
                // Entries past the codebook hold what the last conversion left: never looked up.
                for (int g = 0, groups = w.ColumnGroups; g < groups; g++)
                    ToBytePlanes(table + g * PlaneTable);
            }
            for (int row = rowGroup * w.GroupRows; row < end; row++)
            {
                byte* codes = (byte*)c.Codes + (long)row * w.RowBytes;
                if (tier == SimdTier.Avx512)
                    RowAvx512(c, row, codes, table);
                else if (tier == SimdTier.Avx2 && Permutes(w.Dimension, w.Bits))
                    RowAvx2(c, row, codes, table, stride);
                else if (tier == SimdTier.Avx2)
                    RowAvx2Table(c, row, codes, table, stride);
                else if (tier == SimdTier.Vector128 && w.Dimension == 2)
                    Row128Pairs(c, row, codes, table, stride);
                else if (tier == SimdTier.Vector128)
                    Row128(c, row, codes, table, splitter);
                else
                    RowScalar(c, row, codes, table, stride);
            }
        }
    }

    private static void RowAvx512(Context c, int row, byte* codes, float* tables)
    {
        PackedVectorCodes w = c.W;
        int vectors = c.Vectors;
        CentroidLookup lookup = c.Lookup;
        Vector512<float>* totals = stackalloc Vector512<float>[MaxVectors];
        for (int n = 0; n < vectors; n++)
            totals[n] = Vector512<float>.Zero;
        int segments = (w.Columns + 15) / 16, segmentsPerGroup = w.GroupColumns / 16;
        for (int s = 0; s < segments; s++)
        {
            Vector512<float> weights = lookup.Weights(codes, s, tables + s / segmentsPerGroup * RegisterTable);
            float* xk = (float*)c.X + 16 * s;
            for (int n = 0; n < vectors; n++, xk += c.Padded)
                totals[n] = Avx512F.FusedMultiplyAdd(weights, Avx512F.LoadVector512(xk), totals[n]);
        }
        for (int n = 0; n < vectors; n++)
            ((float*)c.Y)[n * w.Rows + row] = Vector512.Sum(totals[n]);
    }

    /// <summary>
    /// One row on AVX2: the 8 codes of segment s start on byte s·b (a row's codes are padded to whole words and the array
    /// has slack, so the 4-byte load stays inside it); lane i takes bits [i·b, (i + 1)·b) by a variable shift, and the
    /// 8-entry permute reads the low 3 bits of each index (16 entries: the upper 8 by a second permute, chosen by bit 3).
    /// Column groups are the outer loop, so a group's table is loaded into registers once and no segment divides to
    /// find its group (an integer division per 8 weights cost more than the lookup); one vector keeps its sum in a register.
    /// </summary>
    private static void RowAvx2(Context c, int row, byte* codes, float* tables, int stride)
    {
        PackedVectorCodes w = c.W;
        int bits = w.Bits, segments = (w.Columns + 7) / 8, segmentsPerGroup = w.GroupColumns / 8;
        Vector256<uint> shifts = Vector256.Create(0u, 1, 2, 3, 4, 5, 6, 7) * (uint)bits;
        Vector256<uint> mask = Vector256.Create((1u << bits) - 1);
        if (c.Vectors == 1)
        {
            Vector256<float> total = Vector256<float>.Zero;
            float* x = (float*)c.X;
            for (int s = 0; s < segments; tables += stride)
            {
                Vector256<float> low = Avx.LoadVector256(tables), high = bits == 4 ? Avx.LoadVector256(tables + 8) : low;
                for (int end = Math.Min(segments, s + segmentsPerGroup); s < end; s++)
                    total = Fma.MultiplyAdd(Avx2Weights(codes + s * bits, shifts, mask, low, high, bits == 4), Avx.LoadVector256(x + 8 * s), total);
            }
            ((float*)c.Y)[row] = Vector256.Sum(total);
            return;
        }
        int vectors = c.Vectors;
        Vector256<float>* totals = stackalloc Vector256<float>[MaxVectors];
        for (int n = 0; n < vectors; n++)
            totals[n] = Vector256<float>.Zero;
        for (int s = 0; s < segments; tables += stride)
        {
            Vector256<float> low = Avx.LoadVector256(tables), high = bits == 4 ? Avx.LoadVector256(tables + 8) : low;
            for (int end = Math.Min(segments, s + segmentsPerGroup); s < end; s++)
            {
                Vector256<float> weights = Avx2Weights(codes + s * bits, shifts, mask, low, high, bits == 4);
                float* xk = (float*)c.X + 8 * s;
                for (int n = 0; n < vectors; n++, xk += c.Padded)
                    totals[n] = Fma.MultiplyAdd(weights, Avx.LoadVector256(xk), totals[n]);
            }
        }
        for (int n = 0; n < vectors; n++)
            ((float*)c.Y)[n * w.Rows + row] = Vector256.Sum(totals[n]);
    }

    /// <summary>The 8 weights whose codes start at <paramref name="codes"/>, looked up in the table held in <paramref name="low"/> (and <paramref name="high"/> for 16 entries).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Avx2Weights(byte* codes, Vector256<uint> shifts, Vector256<uint> mask, Vector256<float> low, Vector256<float> high, bool sixteen)
    {
        uint word = Unsafe.ReadUnaligned<uint>(codes);
        Vector256<int> index = Avx2.ShiftRightLogicalVariable(Vector256.Create(word), shifts).AsInt32() & mask.AsInt32();
        Vector256<float> weights = Avx2.PermuteVar8x32(low, index);
        return sixteen ? Avx.BlendVariable(weights, Avx2.PermuteVar8x32(high, index), (index << 28).AsSingle()) : weights;
    }

    /// <summary>
    /// Decoding a row-group's codebooks up front costs ColumnGroups·L values for GroupRows·Columns weights: worth it only
    /// when a codebook is no larger than its group (large codebooks over small groups are looked up in place).
    /// </summary>
    internal static bool TablesPayOff(PackedVectorCodes w) => w.CodebookLength <= (long)w.GroupRows * w.GroupColumns;

    /// <summary>One row, each centroid value read from the stored codebook in place.</summary>
    private static void RowDirect(Context c, int row)
    {
        PackedVectorCodes w = c.W;
        int d = w.Dimension;
        ReadOnlySpan<byte> rowCodes = w.Codes.AsSpan((int)((long)row * w.RowBytes), w.RowBytes);
        Span<float> sums = stackalloc float[MaxVectors];
        sums.Clear();
        for (int v = 0; v < w.VectorsPerRow; v++)
        {
            int column = v * d, group = w.GroupOf(row, column), entry = RowAlignedCodes.Read(rowCodes, 0, v, w.Bits) * d;
            for (int j = 0; j < d; j++)
            {
                float value = w.CodebookValue(group, entry + j);
                for (int n = 0; n < c.Vectors; n++)
                    sums[n] += value * ((float*)c.X)[n * c.Padded + column + j];
            }
        }
        for (int n = 0; n < c.Vectors; n++)
            ((float*)c.Y)[n * w.Rows + row] = sums[n];
    }

    private static void RowScalar(Context c, int row, byte* codes, float* tables, int stride)
    {
        PackedVectorCodes w = c.W;
        int d = w.Dimension, bits = w.Bits;
        var rowCodes = new ReadOnlySpan<byte>(codes, w.RowBytes);
        Span<float> sums = stackalloc float[MaxVectors];
        sums.Clear();
        for (int v = 0; v < w.VectorsPerRow; v++)
        {
            int column = v * d;
            float* centroid = tables + column / w.GroupColumns * stride + RowAlignedCodes.Read(rowCodes, 0, v, bits) * d;
            for (int n = 0; n < c.Vectors; n++)
            {
                float* xk = (float*)c.X + n * c.Padded + column;
                float sum = sums[n];
                for (int j = 0; j < d; j++)
                    sum += centroid[j] * xk[j];
                sums[n] = sum;
            }
        }
        for (int n = 0; n < c.Vectors; n++)
            ((float*)c.Y)[n * w.Rows + row] = sums[n];
    }
}
