using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>
/// The naive twins of the packed kernels: plain loops that read one code at a time, dequantize to float32 exactly as
/// the quantizers' reference dequantization does, and multiply in float64. Everything fast is tested against these.
/// Products take <c>x [vectors, Columns]</c> and write <c>y [vectors, Rows]</c>, y_n = W·x_n.
/// </summary>
internal static class PackedReference
{
    /// <summary>W <c>[Rows, Columns]</c> row-major in the original column order: w[r, Permutation[k]] = s·(q[r, k] − z).</summary>
    public static float[] Dequantize(PackedGroupScalar w)
    {
        var weights = new float[(long)w.Rows * w.Columns];
        for (int row = 0; row < w.Rows; row++)
            DecodeRow(w, row, weights.AsSpan(checked(row * w.Columns), w.Columns));
        return weights;
    }

    /// <summary>Row <paramref name="row"/> of W in the original column order, as <see cref="Dequantize(PackedGroupScalar)"/> computes it.</summary>
    public static void DecodeRow(PackedGroupScalar w, int row, Span<float> destination)
    {
        CheckRow(row, w.Rows, w.Columns, destination);
        long rowStart = (long)row * w.RowBytes;
        for (int k = 0; k < w.Columns; k++)
        {
            int group = k / w.GroupSize;
            float scale = w.Scale(row, group), zero = w.Zero(row, group);
            int code = RowAlignedCodes.Read(w.Codes, rowStart, k, w.Bits);
            destination[w.Permutation is null ? k : w.Permutation[k]] = scale * (code - zero);
        }
    }

    /// <summary>Row <paramref name="row"/> of W from its bit planes, in the original column order: the same values as
    /// the <see cref="PackedGroupScalar"/> it was re-laid from.</summary>
    public static void DecodeRow(PackedBitPlanes w, int row, Span<float> destination)
    {
        CheckRow(row, w.Rows, w.Columns, destination);
        for (int k = 0; k < w.Columns; k++)
        {
            int group = k / w.GroupSize;
            float scale = w.Scale(row, group), zero = w.Zero(row, group);
            destination[w.Permutation is null ? k : w.Permutation[k]] = scale * (w.Code(row, k) - zero);
        }
    }

    /// <summary>W <c>[Rows, Columns]</c>: w[r, v·d + j] = codebook[group(r, v·d)][q[r, v]·d + j].</summary>
    public static float[] Dequantize(PackedVectorCodes w)
    {
        var weights = new float[(long)w.Rows * w.Columns];
        for (int row = 0; row < w.Rows; row++)
            DecodeRow(w, row, weights.AsSpan(checked(row * w.Columns), w.Columns));
        return weights;
    }

    /// <summary>Row <paramref name="row"/> of W, as <see cref="Dequantize(PackedVectorCodes)"/> computes it.</summary>
    public static void DecodeRow(PackedVectorCodes w, int row, Span<float> destination)
    {
        CheckRow(row, w.Rows, w.Columns, destination);
        int d = w.Dimension;
        long rowStart = (long)row * w.RowBytes;
        for (int v = 0; v < w.VectorsPerRow; v++)
        {
            int code = RowAlignedCodes.Read(w.Codes, rowStart, v, w.Bits);
            int group = w.GroupOf(row, v * d);
            for (int j = 0; j < d; j++)
                destination[v * d + j] = w.CodebookValue(group, code * d + j);
        }
    }

    /// <summary>W <c>[Rows, Columns]</c> from ggml blocks, as ggml's reference dequantization computes it.</summary>
    public static float[] Dequantize(PackedGgmlBlocks w)
    {
        var weights = new float[(long)w.Rows * w.Columns];
        for (int row = 0; row < w.Rows; row++)
            DecodeRow(w, row, weights.AsSpan(checked(row * w.Columns), w.Columns));
        return weights;
    }

    /// <summary>Row <paramref name="row"/> of W, as <see cref="Dequantize(PackedGgmlBlocks)"/> computes it.</summary>
    public static void DecodeRow(PackedGgmlBlocks w, int row, Span<float> destination)
    {
        CheckRow(row, w.Rows, w.Columns, destination);
        int blockBytes = w.BlockBytes;
        for (int b = 0; b < w.BlocksPerRow; b++)
        {
            ReadOnlySpan<byte> block = w.Blocks.AsSpan(checked((int)(((long)row * w.BlocksPerRow + b) * blockBytes)), blockBytes);
            for (int j = 0; j < PackedGgmlBlocks.BlockSize; j++)
                destination[b * PackedGgmlBlocks.BlockSize + j] = GgmlValue(w.Type, block, j);
        }
    }

    private static void CheckRow(int row, int rows, int columns, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, rows);
        if (destination.Length != columns)
            throw new ArgumentException($"A row holds {columns} values; the destination holds {destination.Length}.", nameof(destination));
    }

    /// <summary>Value <paramref name="j"/> (0–31) of one block.</summary>
    public static float GgmlValue(GgmlBlockType type, ReadOnlySpan<byte> block, int j)
    {
        float d = ScaleWords.HalfToSingle((ushort)(block[0] | block[1] << 8));
        switch (type)
        {
            case GgmlBlockType.Q4_0:
                return (Nibble(block[2..], j) - 8) * d;
            case GgmlBlockType.Q4_1:
                return Nibble(block[4..], j) * d + ScaleWords.HalfToSingle((ushort)(block[2] | block[3] << 8));
            case GgmlBlockType.Q5_0:
                return ((Nibble(block[6..], j) | FifthBit(block[2..], j)) - 16) * d;
            case GgmlBlockType.Q5_1:
                return (Nibble(block[8..], j) | FifthBit(block[4..], j)) * d + ScaleWords.HalfToSingle((ushort)(block[2] | block[3] << 8));
            case GgmlBlockType.Q8_0:
                return (sbyte)block[2 + j] * d;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "Not a ggml block type.");
        }
    }

    private static int Nibble(ReadOnlySpan<byte> qs, int j) => j < 16 ? qs[j] & 0x0F : qs[j - 16] >> 4;

    private static int FifthBit(ReadOnlySpan<byte> qh, int j) => (qh[j >> 3] >> (j & 7) & 1) << 4;

    /// <summary>y_n = W·x_n with W dequantized by the matching <c>Dequantize</c>, summed in float64.</summary>
    public static void MatVec(float[] weights, int rows, int columns, ReadOnlySpan<float> x, Span<float> y, int vectors)
    {
        CheckShapes(rows, columns, x, y, vectors);
        for (int n = 0; n < vectors; n++)
        {
            for (int row = 0; row < rows; row++)
            {
                double sum = 0;
                for (int k = 0; k < columns; k++)
                    sum += (double)weights[(long)row * columns + k] * x[n * columns + k];
                y[n * rows + row] = (float)sum;
            }
        }
    }

    /// <summary>y_n = W·x_n for group-scalar weights.</summary>
    public static void MatVec(PackedGroupScalar w, ReadOnlySpan<float> x, Span<float> y, int vectors) =>
        MatVec(Dequantize(w), w.Rows, w.Columns, x, y, vectors);

    /// <summary>y_n = W·x_n for vector-quantized weights.</summary>
    public static void MatVec(PackedVectorCodes w, ReadOnlySpan<float> x, Span<float> y, int vectors) =>
        MatVec(Dequantize(w), w.Rows, w.Columns, x, y, vectors);

    /// <summary>y_n = W·x_n for ggml blocks.</summary>
    public static void MatVec(PackedGgmlBlocks w, ReadOnlySpan<float> x, Span<float> y, int vectors) =>
        MatVec(Dequantize(w), w.Rows, w.Columns, x, y, vectors);

    /// <summary>Checks x <c>[vectors, columns]</c> and y <c>[vectors, rows]</c>.</summary>
    public static void CheckShapes(int rows, int columns, ReadOnlySpan<float> x, ReadOnlySpan<float> y, int vectors)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(vectors, 1);
        if (x.Length != (long)vectors * columns)
            throw new ArgumentException($"x must be [{vectors}, {columns}] ({(long)vectors * columns} values), got {x.Length}.", nameof(x));
        if (y.Length != (long)vectors * rows)
            throw new ArgumentException($"y must be [{vectors}, {rows}] ({(long)vectors * rows} values), got {y.Length}.", nameof(y));
    }
}
