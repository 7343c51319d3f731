using ILGPU;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>
/// ILGPU kernels over the packed layouts: dequantization (one thread per weight) and the fused product (one thread per
/// output y[n, r], reading the packed row once). Codes are read as 32-bit words of the row-aligned stream (rows start on a
/// 64-bit word); a code crossing a word takes its high bits from the next word. Kernels never throw: the launcher
/// (<see cref="PackedKernelLauncher"/>) checks every shape before a launch.
/// </summary>
internal static class PackedKernels
{
    /// <summary>Code <paramref name="index"/> of b-bit codes in the row starting at word <paramref name="rowWord"/>.</summary>
    private static int ReadCode(ArrayView<uint> codes, long rowWord, int index, int bits)
    {
        long bit = (long)index * bits;
        long word = rowWord + (bit >> 5);
        int shift = (int)(bit & 31);
        uint value = codes[word] >> shift;
        if (shift + bits > 32)
            value |= codes[word + 1] << (32 - shift);
        return (int)(value & ((1u << bits) - 1));
    }

    private static float GroupScale(GroupScalarShape s, ArrayView<ushort> parameters, int row, int group) =>
        ScaleWords.Decode(parameters, ((long)row * s.GroupsPerRow + group) * s.ParameterWords, s.Format);

    private static float GroupZero(GroupScalarShape s, ArrayView<ushort> parameters, int row, int group) =>
        s.Symmetric != 0
            ? 1 << (s.Bits - 1)
            : ScaleWords.Decode(parameters, ((long)row * s.GroupsPerRow + group) * s.ParameterWords + (s.Format == (int)ScaleFormat.F32 ? 2 : 1), s.Format);

    /// <summary>weights <c>[Rows, Columns]</c> (original column order): weights[r, perm[k]] = s·(q[r, k] − z). One thread per (r, k).</summary>
    public static void GroupScalarDequantize(Index1D index, GroupScalarShape s, ArrayView<uint> codes, ArrayView<ushort> parameters,
        ArrayView<int> permutation, ArrayView<float> weights)
    {
        int row = (int)(index / s.Columns), k = (int)(index % s.Columns);
        int group = k / s.GroupSize;
        int code = ReadCode(codes, (long)row * s.RowWords, k, s.Bits);
        int column = s.HasPermutation != 0 ? permutation[k] : k;
        weights[(long)row * s.Columns + column] = GroupScale(s, parameters, row, group) * (code - GroupZero(s, parameters, row, group));
    }

    /// <summary>y <c>[Vectors, Rows]</c> = W·x for x <c>[Vectors, Columns]</c>. One thread per (n, r).</summary>
    public static void GroupScalarMatVec(Index1D index, GroupScalarShape s, ArrayView<uint> codes, ArrayView<ushort> parameters,
        ArrayView<int> permutation, ArrayView<float> x, ArrayView<float> y)
    {
        int n = (int)(index / s.Rows), row = (int)(index % s.Rows);
        long rowWord = (long)row * s.RowWords, xStart = (long)n * s.Columns;
        float sum = 0;
        for (int group = 0; group < s.GroupsPerRow; group++)
        {
            float scale = GroupScale(s, parameters, row, group), zero = GroupZero(s, parameters, row, group);
            int end = group * s.GroupSize + s.GroupSize;
            if (end > s.Columns)
                end = s.Columns;
            float partial = 0;
            for (int k = group * s.GroupSize; k < end; k++)
            {
                int column = s.HasPermutation != 0 ? permutation[k] : k;
                partial += (ReadCode(codes, rowWord, k, s.Bits) - zero) * x[xStart + column];
            }
            sum += scale * partial;
        }
        y[(long)n * s.Rows + row] = sum;
    }

    private static float CodebookValue(VectorCodesShape s, ArrayView<byte> int8, ArrayView<ushort> halves, ArrayView<float> floats, int group, int i)
    {
        long at = (long)group * s.CodebookLength + i;
        if (s.Format == (int)CodebookFormat.Int8Scaled)
            return ScaleWords.HalfToSingle(halves[group]) * (sbyte)int8[at];
        return s.Format == (int)CodebookFormat.F16 ? ScaleWords.HalfToSingle(halves[at]) : floats[at];
    }

    /// <summary>weights <c>[Rows, Columns]</c> = the centroid value of each (r, c). One thread per weight.</summary>
    public static void VectorCodesDequantize(Index1D index, VectorCodesShape s, ArrayView<uint> codes, ArrayView<byte> int8,
        ArrayView<ushort> halves, ArrayView<float> floats, ArrayView<float> weights)
    {
        int row = (int)(index / s.Columns), column = (int)(index % s.Columns);
        int code = ReadCode(codes, (long)row * s.RowWords, column / s.Dimension, s.Bits);
        int group = row / s.GroupRows * s.ColumnGroups + column / s.GroupColumns;
        weights[index] = CodebookValue(s, int8, halves, floats, group, code * s.Dimension + column % s.Dimension);
    }

    /// <summary>y <c>[Vectors, Rows]</c> = W·x for vector-quantized W. One thread per (n, r).</summary>
    public static void VectorCodesMatVec(Index1D index, VectorCodesShape s, ArrayView<uint> codes, ArrayView<byte> int8,
        ArrayView<ushort> halves, ArrayView<float> floats, ArrayView<float> x, ArrayView<float> y)
    {
        int n = (int)(index / s.Rows), row = (int)(index % s.Rows);
        long rowWord = (long)row * s.RowWords, xStart = (long)n * s.Columns;
        int rowGroup = row / s.GroupRows * s.ColumnGroups, vectorsPerRow = s.Columns / s.Dimension;
        float sum = 0;
        for (int v = 0; v < vectorsPerRow; v++)
        {
            int column = v * s.Dimension;
            int entry = ReadCode(codes, rowWord, v, s.Bits) * s.Dimension;
            int group = rowGroup + column / s.GroupColumns;
            for (int j = 0; j < s.Dimension; j++)
                sum += CodebookValue(s, int8, halves, floats, group, entry + j) * x[xStart + column + j];
        }
        y[(long)n * s.Rows + row] = sum;
    }

    private static float BlockHalf(ArrayView<byte> blocks, long at) => ScaleWords.HalfToSingle((ushort)(blocks[at] | blocks[at + 1] << 8));

    /// <summary>Value j of the block starting at byte <paramref name="block"/>, as ggml's reference dequantization computes it.</summary>
    private static float GgmlValue(int type, ArrayView<byte> blocks, long block, int j)
    {
        float d = BlockHalf(blocks, block);
        if (type == (int)GgmlBlockType.Q8_0)
            return (sbyte)blocks[block + 2 + j] * d;
        int qs = type == (int)GgmlBlockType.Q4_0 ? 2 : type == (int)GgmlBlockType.Q4_1 ? 4 : type == (int)GgmlBlockType.Q5_0 ? 6 : 8;
        int nibble = j < 16 ? blocks[block + qs + j] & 0x0F : blocks[block + qs + j - 16] >> 4;
        if (type == (int)GgmlBlockType.Q5_0 || type == (int)GgmlBlockType.Q5_1)
            nibble |= (blocks[block + qs - 4 + (j >> 3)] >> (j & 7) & 1) << 4;
        if (type == (int)GgmlBlockType.Q4_0)
            return (nibble - 8) * d;
        if (type == (int)GgmlBlockType.Q5_0)
            return (nibble - 16) * d;
        return nibble * d + BlockHalf(blocks, block + 2);
    }

    /// <summary>weights <c>[Rows, Columns]</c> from the blocks. One thread per weight.</summary>
    public static void GgmlDequantize(Index1D index, GgmlShape s, ArrayView<byte> blocks, ArrayView<float> weights)
    {
        long block = index / PackedGgmlBlocks.BlockSize;
        weights[index] = GgmlValue(s.Type, blocks, block * s.BlockBytes, (int)(index % PackedGgmlBlocks.BlockSize));
    }

    /// <summary>y <c>[Vectors, Rows]</c> = W·x for ggml blocks. One thread per (n, r).</summary>
    public static void GgmlMatVec(Index1D index, GgmlShape s, ArrayView<byte> blocks, ArrayView<float> x, ArrayView<float> y)
    {
        int n = (int)(index / s.Rows), row = (int)(index % s.Rows);
        long xStart = (long)n * s.Columns;
        float sum = 0;
        for (int b = 0; b < s.BlocksPerRow; b++)
        {
            long block = ((long)row * s.BlocksPerRow + b) * s.BlockBytes;
            for (int j = 0; j < PackedGgmlBlocks.BlockSize; j++)
                sum += GgmlValue(s.Type, blocks, block, j) * x[xStart + b * PackedGgmlBlocks.BlockSize + j];
        }
        y[(long)n * s.Rows + row] = sum;
    }
}
