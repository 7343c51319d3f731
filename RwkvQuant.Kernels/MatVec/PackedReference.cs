using System.Buffers.Binary;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>
/// The naive twins of the packed kernels: plain loops that read one code at a time, dequantize to float32 exactly as
/// the quantizers' reference dequantization does, and multiply in float64. Everything fast is tested against these.
/// Products take <c>x [vectors, Columns]</c> and write <c>y [vectors, Rows]</c>, y_n = W·x_n.
/// </summary>
public static partial class PackedReference
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
            DecodeBlock(w.Type, block, destination.Slice(b * PackedGgmlBlocks.BlockSize, PackedGgmlBlocks.BlockSize));
        }
    }

    /// <summary>
    /// The 32 values of one ggml block (<paramref name="block"/>: exactly its bytes) into <paramref name="destination"/>,
    /// the one reference dequantization of ggml blocks in the library (file readers and quantizers use it too). ggml's
    /// layouts, rwkv.cpp file version 101: value j sits in the low nibble of <c>qs[j]</c> and value j + 16 in the high
    /// nibble (Q4/Q5), the fifth bit of value j is bit j of the little-endian uint32 <c>qh</c> (Q5).
    /// </summary>
    /// <exception cref="ArgumentException">The block or the destination has the wrong size.</exception>
    public static void DecodeBlock(GgmlBlockType type, ReadOnlySpan<byte> block, Span<float> destination)
    {
        const int half = PackedGgmlBlocks.BlockSize / 2;
        if (block.Length != PackedGgmlBlocks.BytesPerBlock(type))
            throw new ArgumentException($"A {type} block is {PackedGgmlBlocks.BytesPerBlock(type)} bytes, got {block.Length}.", nameof(block));
        if (destination.Length != PackedGgmlBlocks.BlockSize)
            throw new ArgumentException($"A block holds {PackedGgmlBlocks.BlockSize} values; the destination holds {destination.Length}.", nameof(destination));
        float d = Half(block, 0);
        switch (type)
        {
            case GgmlBlockType.Q4_0: // { fp16 d; u8 qs[16]; }: x = d·(q − 8)
                for (int j = 0; j < half; j++)
                {
                    destination[j] = ((block[2 + j] & 0x0F) - 8) * d;
                    destination[j + half] = ((block[2 + j] >> 4) - 8) * d;
                }
                break;
            case GgmlBlockType.Q4_1: // { fp16 d; fp16 m; u8 qs[16]; }: x = d·q + m
            {
                float m = Half(block, 2);
                for (int j = 0; j < half; j++)
                {
                    destination[j] = (block[4 + j] & 0x0F) * d + m;
                    destination[j + half] = (block[4 + j] >> 4) * d + m;
                }
                break;
            }
            case GgmlBlockType.Q5_0: // { fp16 d; u8 qh[4]; u8 qs[16]; }: x = d·(q − 16)
            {
                uint qh = BinaryPrimitives.ReadUInt32LittleEndian(block.Slice(2, 4));
                for (int j = 0; j < half; j++)
                {
                    destination[j] = ((block[6 + j] & 0x0F | (int)(qh >> j << 4 & 0x10)) - 16) * d;
                    destination[j + half] = ((block[6 + j] >> 4 | (int)(qh >> (j + half) << 4 & 0x10)) - 16) * d;
                }
                break;
            }
            case GgmlBlockType.Q5_1: // { fp16 d; fp16 m; u8 qh[4]; u8 qs[16]; }: x = d·q + m
            {
                float m = Half(block, 2);
                uint qh = BinaryPrimitives.ReadUInt32LittleEndian(block.Slice(4, 4));
                for (int j = 0; j < half; j++)
                {
                    destination[j] = (block[8 + j] & 0x0F | (int)(qh >> j << 4 & 0x10)) * d + m;
                    destination[j + half] = (block[8 + j] >> 4 | (int)(qh >> (j + half) << 4 & 0x10)) * d + m;
                }
                break;
            }
            case GgmlBlockType.Q8_0: // { fp16 d; i8 qs[32]; }: x = d·q
                for (int j = 0; j < PackedGgmlBlocks.BlockSize; j++)
                    destination[j] = (sbyte)block[2 + j] * d;
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "Not a ggml block type.");
        }
    }

    private static float Half(ReadOnlySpan<byte> bytes, int offset) => ScaleWords.HalfToSingle((ushort)(bytes[offset] | bytes[offset + 1] << 8));

    private static void CheckRow(int row, int rows, int columns, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, rows);
        if (destination.Length != columns)
            throw new ArgumentException($"A row holds {columns} values; the destination holds {destination.Length}.", nameof(destination));
    }

    /// <summary>y_n = W·x_n with W dequantized by the matching <c>Dequantize</c>, summed in float64.</summary>
    internal static void MatVec(float[] weights, int rows, int columns, ReadOnlySpan<float> x, Span<float> y, int vectors)
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
    internal static void CheckShapes(int rows, int columns, ReadOnlySpan<float> x, ReadOnlySpan<float> y, int vectors)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(vectors, 1);
        if (x.Length != (long)vectors * columns)
            throw new ArgumentException($"x must be [{vectors}, {columns}] ({(long)vectors * columns} values), got {x.Length}.", nameof(x));
        if (y.Length != (long)vectors * rows)
            throw new ArgumentException($"y must be [{vectors}, {rows}] ({(long)vectors * rows} values), got {y.Length}.", nameof(y));
    }
}
