using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>
/// The fast CPU product of group-scalar weights and up to <see cref="MaxVectors"/> vectors at once, reading only the
/// packed codes and the per-group scale and zero. Per row and group g (storage columns G_g):
/// y_r = Σ_g s_g·(Σ_{k∈G_g} q_k·x_k − z_g·X_g) with X_g = Σ_{k∈G_g} x_k computed once per vector, so the inner loop is
/// decode + one FMA per 16 codes. x is first put in storage order (act-order) and zero-padded to whole 64-code words.
/// AVX-512 decodes 16 codes in five instructions (<see cref="CodeDecoder"/>) when the group size is a multiple of 16;
/// otherwise a portable path decodes a row to floats and uses TensorPrimitives dot products. Threads over row chunks.
/// </summary>
internal static unsafe class GroupScalarMatVec
{
    /// <summary>Vectors multiplied in one pass over the weights; larger batches run in passes.</summary>
    public const int MaxVectors = 8;

    /// <summary>Effectively computes y[n, r] = Σ_c W[r, c]·x[n, c] for x <c>[vectors, Columns]</c>, y <c>[vectors, Rows]</c>.</summary>
    public static void MatVec(PackedGroupScalar w, ReadOnlySpan<float> x, Span<float> y, int vectors) =>
        MatVec(w, x, y, vectors, CodeDecoder.IsSupported);

    /// <summary>As <see cref="MatVec(PackedGroupScalar, ReadOnlySpan{float}, Span{float}, int)"/>; <paramref name="useAvx512"/>
    /// false forces the portable path (for tests).</summary>
    public static void MatVec(PackedGroupScalar w, ReadOnlySpan<float> x, Span<float> y, int vectors, bool useAvx512)
    {
        ArgumentNullException.ThrowIfNull(w);
        PackedReference.CheckShapes(w.Rows, w.Columns, x, y, vectors);
        for (int first = 0; first < vectors; first += MaxVectors)
        {
            int count = Math.Min(MaxVectors, vectors - first);
            Pass(w, x.Slice(first * w.Columns, count * w.Columns), y.Slice(first * w.Rows, count * w.Rows), count,
                useAvx512 && RunsAvx512(w.GroupSize));
        }
    }

    /// <summary>True when weights with groups of <paramref name="groupSize"/> take the AVX-512 path on this machine.</summary>
    public static bool RunsAvx512(int groupSize) => CodeDecoder.IsSupported && groupSize % 16 == 0;

    private static void Pass(PackedGroupScalar w, ReadOnlySpan<float> x, Span<float> y, int vectors, bool avx512)
    {
        int padded = w.PaddedColumns, groups = w.GroupsPerRow;
        float[] xs = ArrayPool<float>.Shared.Rent(vectors * padded);
        float[] sums = ArrayPool<float>.Shared.Rent(vectors * groups);
        try
        {
            // x in storage order, zero-padded: padded codes (zeros) then meet zeros.
            for (int n = 0; n < vectors; n++)
                StorageOrder.Prepare(x.Slice(n * w.Columns, w.Columns), w.Permutation, xs.AsSpan(n * padded, padded), w.GroupSize, sums.AsSpan(n * groups, groups));
            fixed (float* yp = y)
            fixed (float* xp = xs)
            fixed (float* sp = sums)
            fixed (byte* cp = w.Codes)
            fixed (ushort* pp = w.GroupParameters)
            {
                var context = new Context(w, (nint)xp, (nint)sp, (nint)cp, (nint)pp, (nint)yp, vectors);
                if (avx512)
                {
                    var decoder = new CodeDecoder(w.Bits);
                    RowPartition.For(w.Rows, (long)padded * vectors, (first, end) => RowsAvx512(context, decoder, first, end));
                }
                else
                {
                    RowPartition.For(w.Rows, (long)padded * vectors, (first, end) => RowsPortable(context, first, end));
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(xs);
            ArrayPool<float>.Shared.Return(sums);
        }
    }

    /// <summary>What the row workers share: the layout and pinned addresses.</summary>
    private readonly record struct Context(PackedGroupScalar W, nint X, nint GroupSums, nint Codes, nint Parameters, nint Y, int Vectors);

    private static void RowsAvx512(Context c, CodeDecoder decoder, int first, int end)
    {
        PackedGroupScalar w = c.W;
        int groups = w.GroupsPerRow, segmentBytes = 2 * w.Bits, padded = w.PaddedColumns, vectors = c.Vectors;
        float* x = (float*)c.X, sums = (float*)c.GroupSums, y = (float*)c.Y;
        int stride = w.Symmetric ? 1 : 2;
        float[] rowParameters = ArrayPool<float>.Shared.Rent(groups * stride);
        if (vectors == 1 && PairsApply(w))
        {
            // Two rows at a time: each x segment is loaded once for both, and four decode chains run side by side.
            float[] pairParameters = ArrayPool<float>.Shared.Rent(groups * stride);
            for (; first + 1 < end; first += 2)
            {
                byte* codes = (byte*)c.Codes + (long)first * w.RowBytes;
                ushort* parameters = (ushort*)c.Parameters + (long)first * groups * w.ParameterWords;
                DecodeParameters(w, parameters, rowParameters);
                DecodeParameters(w, parameters + groups * w.ParameterWords, pairParameters);
                fixed (float* sz0 = rowParameters)
                fixed (float* sz1 = pairParameters)
                    RowPair(w, decoder, codes, codes + w.RowBytes, sz0, sz1, x, sums, y + first);
            }
            ArrayPool<float>.Shared.Return(pairParameters);
        }
        for (int row = first; row < end; row++)
        {
            byte* codes = (byte*)c.Codes + (long)row * w.RowBytes;
            ushort* parameters = (ushort*)c.Parameters + (long)row * groups * w.ParameterWords;
            DecodeParameters(w, parameters, rowParameters);
            fixed (float* sz = rowParameters)
            {
            if (vectors == 1)
            {
                y[row] = RowSingle(w, decoder, codes, sz, x, sums);
                continue;
            }
            for (int n = 0; n < vectors; n += 4)
                RowFour(w, decoder, codes, sz, x + n * padded, sums + n * groups, y + n * w.Rows + row, Math.Min(4, vectors - n));
            }
        }
        ArrayPool<float>.Shared.Return(rowParameters);
    }

    /// <summary>
    /// One row times up to four vectors (x rows <c>padded</c> apart, y outputs <c>Rows</c> apart), accumulators in
    /// registers: each decoded segment feeds four FMAs. Missing vectors (count &lt; 4) reuse vector 0 and are dropped.
    /// </summary>
    private static void RowFour(PackedGroupScalar w, CodeDecoder decoder, byte* codes, float* sz, float* x, float* sums, float* y, int count)
    {
        int groups = w.GroupsPerRow, segmentBytes = 2 * w.Bits, groupSize = w.GroupSize, columns = w.Columns, padded = w.PaddedColumns;
        int stride = w.Symmetric ? 1 : 2;
        float symmetricZero = w.SymmetricZero;
        bool symmetric = w.Symmetric;
        float* x0 = x, x1 = count > 1 ? x + padded : x, x2 = count > 2 ? x + 2 * padded : x, x3 = count > 3 ? x + 3 * padded : x;
        Vector512<float> t0 = default, t1 = default, t2 = default, t3 = default;
        float c0 = 0, c1 = 0, c2 = 0, c3 = 0;
        for (int g = 0; g < groups; g++)
        {
            int start = g * groupSize;
            int segments = (Math.Min(columns, start + groupSize) - start + 15) / 16;
            byte* p = codes + start / 16 * segmentBytes;
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int s = 0, k = start; s < segments; s++, p += segmentBytes, k += 16)
            {
                Vector512<float> q = decoder.Decode(p);
                a0 = Avx512F.FusedMultiplyAdd(q, Avx512F.LoadVector512(x0 + k), a0);
                a1 = Avx512F.FusedMultiplyAdd(q, Avx512F.LoadVector512(x1 + k), a1);
                a2 = Avx512F.FusedMultiplyAdd(q, Avx512F.LoadVector512(x2 + k), a2);
                a3 = Avx512F.FusedMultiplyAdd(q, Avx512F.LoadVector512(x3 + k), a3);
            }
            float scaleValue = sz[g * stride];
            float sZero = scaleValue * (symmetric ? symmetricZero : sz[g * stride + 1]);
            var scale = Vector512.Create(scaleValue);
            t0 = Avx512F.FusedMultiplyAdd(a0, scale, t0);
            t1 = Avx512F.FusedMultiplyAdd(a1, scale, t1);
            t2 = Avx512F.FusedMultiplyAdd(a2, scale, t2);
            t3 = Avx512F.FusedMultiplyAdd(a3, scale, t3);
            c0 += sZero * sums[g];
            if (count > 1)
                c1 += sZero * sums[groups + g];
            if (count > 2)
                c2 += sZero * sums[2 * groups + g];
            if (count > 3)
                c3 += sZero * sums[3 * groups + g];
        }
        int rows = w.Rows;
        y[0] = Vector512.Sum(t0) - c0;
        if (count > 1)
            y[rows] = Vector512.Sum(t1) - c1;
        if (count > 2)
            y[2 * rows] = Vector512.Sum(t2) - c2;
        if (count > 3)
            y[3 * rows] = Vector512.Sum(t3) - c3;
    }

    /// <summary>True when rows can be taken in pairs: every group is whole and an even number of 16-code segments.</summary>
    internal static bool PairsApply(PackedGroupScalar w) => w.GroupSize % 32 == 0 && w.Columns % w.GroupSize == 0;

    /// <summary>
    /// Two adjacent rows times one vector (<see cref="PairsApply"/>): per pair of segments the two x vectors are loaded
    /// once and feed four independent decode + FMA chains; each row's scale is applied once per group.
    /// </summary>
    private static void RowPair(PackedGroupScalar w, CodeDecoder decoder, byte* codes0, byte* codes1, float* sz0, float* sz1, float* x, float* sums, float* y)
    {
        int groups = w.GroupsPerRow, segmentBytes = 2 * w.Bits, groupSize = w.GroupSize, pairs = groupSize / 32;
        int stride = w.Symmetric ? 1 : 2;
        float symmetricZero = w.SymmetricZero;
        bool symmetric = w.Symmetric;
        Vector512<float> total0 = Vector512<float>.Zero, total1 = Vector512<float>.Zero;
        float correction0 = 0, correction1 = 0;
        byte* p0 = codes0, p1 = codes1;
        float* xk = x;
        for (int g = 0; g < groups; g++)
        {
            Vector512<float> a0 = Vector512<float>.Zero, a1 = Vector512<float>.Zero, b0 = Vector512<float>.Zero, b1 = Vector512<float>.Zero;
            for (int s = 0; s < pairs; s++, p0 += 2 * segmentBytes, p1 += 2 * segmentBytes, xk += 32)
            {
                Vector512<float> x0 = Avx512F.LoadVector512(xk), x1 = Avx512F.LoadVector512(xk + 16);
                a0 = Avx512F.FusedMultiplyAdd(decoder.Decode(p0), x0, a0);
                b0 = Avx512F.FusedMultiplyAdd(decoder.Decode(p1), x0, b0);
                a1 = Avx512F.FusedMultiplyAdd(decoder.Decode(p0 + segmentBytes), x1, a1);
                b1 = Avx512F.FusedMultiplyAdd(decoder.Decode(p1 + segmentBytes), x1, b1);
            }
            float scale0 = sz0[g * stride], scale1 = sz1[g * stride];
            total0 = Avx512F.FusedMultiplyAdd(a0 + a1, Vector512.Create(scale0), total0);
            total1 = Avx512F.FusedMultiplyAdd(b0 + b1, Vector512.Create(scale1), total1);
            correction0 += scale0 * (symmetric ? symmetricZero : sz0[g * stride + 1]) * sums[g];
            correction1 += scale1 * (symmetric ? symmetricZero : sz1[g * stride + 1]) * sums[g];
        }
        y[0] = Vector512.Sum(total0) - correction0;
        y[1] = Vector512.Sum(total1) - correction1;
    }

    /// <summary>One row times one vector: two accumulators per group, the scale applied once per group.</summary>
    private static float RowSingle(PackedGroupScalar w, CodeDecoder decoder, byte* codes, float* sz, float* x, float* sums)
    {
        int groups = w.GroupsPerRow, segmentBytes = 2 * w.Bits, groupSize = w.GroupSize, columns = w.Columns;
        int stride = w.Symmetric ? 1 : 2;
        float symmetricZero = w.SymmetricZero;
        bool symmetric = w.Symmetric;
        Vector512<float> total = Vector512<float>.Zero;
        float correction = 0;
        for (int g = 0; g < groups; g++)
        {
            int start = g * groupSize;
            int segments = (Math.Min(columns, start + groupSize) - start + 15) / 16;
            byte* p = codes + start / 16 * segmentBytes;
            float* xk = x + start;
            Vector512<float> a0 = Vector512<float>.Zero, a1 = Vector512<float>.Zero;
            int s = 0;
            for (; s + 1 < segments; s += 2, p += 2 * segmentBytes, xk += 32)
            {
                a0 = Avx512F.FusedMultiplyAdd(decoder.Decode(p), Avx512F.LoadVector512(xk), a0);
                a1 = Avx512F.FusedMultiplyAdd(decoder.Decode(p + segmentBytes), Avx512F.LoadVector512(xk + 16), a1);
            }
            if (s < segments)
                a0 = Avx512F.FusedMultiplyAdd(decoder.Decode(p), Avx512F.LoadVector512(xk), a0);
            float scale = sz[g * stride];
            total = Avx512F.FusedMultiplyAdd(a0 + a1, Vector512.Create(scale), total);
            correction += scale * (symmetric ? symmetricZero : sz[g * stride + 1]) * sums[g];
        }
        return Vector512.Sum(total) - correction;
    }

    /// <summary>Rows by the portable path: a row's codes decoded to floats, then per group a dot product per vector.</summary>
    private static void RowsPortable(Context c, int first, int end)
    {
        PackedGroupScalar w = c.W;
        int groups = w.GroupsPerRow, padded = w.PaddedColumns;
        float[] row = ArrayPool<float>.Shared.Rent(padded);
        Span<float> scaleZero = stackalloc float[2];
        try
        {
            for (int r = first; r < end; r++)
            {
                ushort* parameters = (ushort*)c.Parameters + (long)r * groups * w.ParameterWords;
                DecodeRow(new ReadOnlySpan<byte>((byte*)c.Codes + (long)r * w.RowBytes, w.RowBytes), w.Bits, row.AsSpan(0, w.Columns));
                for (int n = 0; n < c.Vectors; n++)
                {
                    var xn = new ReadOnlySpan<float>((float*)c.X + n * padded, w.Columns);
                    double sum = 0;
                    for (int g = 0; g < groups; g++)
                    {
                        int start = g * w.GroupSize, length = Math.Min(w.GroupSize, w.Columns - start);
                        ReadParameters(w, parameters, g, scaleZero);
                        float dot = TensorPrimitives.Dot(row.AsSpan(start, length), xn.Slice(start, length));
                        sum += scaleZero[0] * (dot - scaleZero[1] * ((float*)c.GroupSums)[n * groups + g]);
                    }
                    ((float*)c.Y)[n * w.Rows + r] = (float)sum;
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(row);
        }
    }

    /// <summary>The first <c>destination.Length</c> codes of one row, as floats (64-bit reads, one per code).</summary>
    internal static void DecodeRow(ReadOnlySpan<byte> row, int bits, Span<float> destination)
    {
        ulong mask = (1ul << bits) - 1;
        fixed (byte* p = row)
        {
            for (int k = 0; k < destination.Length; k++)
            {
                long bit = (long)k * bits;
                // Rows are whole 64-bit words, so an 8-byte read from the code's byte stays inside the row
                // except near its end; read byte-wise there.
                long start = bit >> 3;
                ulong window = start + 8 <= row.Length ? *(ulong*)(p + start) : Tail(p, start, row.Length);
                destination[k] = (float)((window >> (int)(bit & 7)) & mask);
            }
        }
    }

    private static ulong Tail(byte* p, long start, int length)
    {
        ulong window = 0;
        for (int k = 0; start + k < length; k++)
            window |= (ulong)p[start + k] << (8 * k);
        return window;
    }

    /// <summary>A row's stored parameters (s, or s then z, per group) decoded to float32 into <paramref name="destination"/>.</summary>
    internal static void DecodeParameters(PackedGroupScalar w, ushort* parameters, float[] destination)
    {
        int count = w.GroupsPerRow * (w.Symmetric ? 1 : 2);
        ScaleWords.DecodeAll(new ReadOnlySpan<ushort>(parameters, count * ScaleWords.WordsPerValue(w.Format)), destination.AsSpan(0, count), w.Format);
    }

    /// <summary>Scale and zero of group <paramref name="group"/> of a row whose parameters start at <paramref name="parameters"/>.</summary>
    private static void ReadParameters(PackedGroupScalar w, ushort* parameters, int group, Span<float> scaleZero)
    {
        ushort* p = parameters + group * w.ParameterWords;
        var words = new ReadOnlySpan<ushort>(p, w.ParameterWords);
        scaleZero[0] = ScaleWords.Decode(words, 0, w.Format);
        scaleZero[1] = w.Symmetric ? w.SymmetricZero : ScaleWords.Decode(words, ScaleWords.WordsPerValue(w.Format), w.Format);
    }
}
