using System.Buffers;
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
/// decoded indices; otherwise a scalar loop looks up each code.
/// </summary>
internal static unsafe class VectorCodesMatVec
{
    /// <summary>Vectors multiplied in one pass over the weights.</summary>
    public const int MaxVectors = 8;

    /// <summary>Codebook values one in-register lookup can hold.</summary>
    private const int RegisterTable = CentroidLookup.TableLength;

    /// <summary>Effectively computes y[n, r] = Σ_c W[r, c]·x[n, c] for x <c>[vectors, Columns]</c>, y <c>[vectors, Rows]</c>.</summary>
    public static void MatVec(PackedVectorCodes w, ReadOnlySpan<float> x, Span<float> y, int vectors) =>
        MatVec(w, x, y, vectors, CodeDecoder.IsSupported);

    /// <summary>As above; <paramref name="useAvx512"/> false forces the scalar lookup (for tests).</summary>
    public static void MatVec(PackedVectorCodes w, ReadOnlySpan<float> x, Span<float> y, int vectors, bool useAvx512)
    {
        ArgumentNullException.ThrowIfNull(w);
        PackedReference.CheckShapes(w.Rows, w.Columns, x, y, vectors);
        bool avx512 = useAvx512 && CentroidLookup.Fits(w);
        for (int first = 0; first < vectors; first += MaxVectors)
        {
            int count = Math.Min(MaxVectors, vectors - first);
            Pass(w, x.Slice(first * w.Columns, count * w.Columns), y.Slice(first * w.Rows, count * w.Rows), count, avx512);
        }
    }

    private static void Pass(PackedVectorCodes w, ReadOnlySpan<float> x, Span<float> y, int vectors, bool avx512)
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
                    avx512 ? new CentroidLookup(w.Dimension, w.Bits) : default);
                int stride = avx512 ? RegisterTable : w.CodebookLength;
                RowPartition.For(rowGroups, (long)w.GroupRows * padded * vectors, (first, end) =>
                {
                    float[] tables = ArrayPool<float>.Shared.Rent(w.ColumnGroups * stride);
                    try
                    {
                        // Zero padding of register tables past the codebook stays zero.
                        Array.Clear(tables, 0, w.ColumnGroups * stride);
                        for (int rowGroup = first; rowGroup < end; rowGroup++)
                            RowGroup(context, rowGroup, avx512, tables, stride);
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

    private static void RowGroup(Context c, int rowGroup, bool avx512, float[] tables, int stride)
    {
        PackedVectorCodes w = c.W;
        if (!avx512 && !TablesPayOff(w))
        {
            int last = Math.Min(w.Rows, (rowGroup + 1) * w.GroupRows);
            for (int row = rowGroup * w.GroupRows; row < last; row++)
                RowDirect(c, row);
            return;
        }
        // This row-group's codebooks as float32 [columnGroups, stride].
        w.DecodeCodebooks(rowGroup * w.ColumnGroups, w.ColumnGroups, tables, stride);
        int end = Math.Min(w.Rows, (rowGroup + 1) * w.GroupRows);
        fixed (float* table = tables)
        {
            for (int row = rowGroup * w.GroupRows; row < end; row++)
            {
                byte* codes = (byte*)c.Codes + (long)row * w.RowBytes;
                if (avx512)
                    RowAvx512(c, row, codes, table);
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
