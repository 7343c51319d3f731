using System.Buffers;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>
/// Fast CPU dequantization of the packed layouts to float32 <c>[Rows, Columns]</c> (original column order), threads over
/// rows. Bit-identical to <see cref="PackedReference"/>: the same float operations per weight, s·(q − z), d·(q − 8),
/// d·q + m, or a codebook value. AVX-512 decodes 16 codes at a time (group scalar with group sizes that are multiples of
/// 16, ggml blocks); other cases decode code by code.
/// </summary>
internal static unsafe class PackedDequantize
{
    /// <summary>Writes W into <paramref name="weights"/> (Rows·Columns values).</summary>
    public static void Dequantize(PackedGroupScalar w, Span<float> weights, bool useAvx512 = true)
    {
        ArgumentNullException.ThrowIfNull(w);
        CheckLength(weights, (long)w.Rows * w.Columns);
        bool avx512 = useAvx512 && CodeDecoder.IsSupported && w.GroupSize % 16 == 0;
        var decoder = avx512 ? new CodeDecoder(w.Bits) : default;
        fixed (float* output = weights)
        {
            nint target = (nint)output;
            RowPartition.For(w.Rows, w.Columns, (first, end) =>
            {
                float[] row = ArrayPool<float>.Shared.Rent(w.PaddedColumns);
                try
                {
                    for (int r = first; r < end; r++)
                    {
                        GroupScalarRow(w, r, decoder, avx512, row);
                        var destination = new Span<float>((float*)target + (long)r * w.Columns, w.Columns);
                        if (w.Permutation is null)
                            row.AsSpan(0, w.Columns).CopyTo(destination);
                        else
                            for (int k = 0; k < w.Columns; k++)
                                destination[w.Permutation[k]] = row[k];
                    }
                }
                finally
                {
                    ArrayPool<float>.Shared.Return(row);
                }
            });
        }
    }

    /// <summary>Row <paramref name="r"/> in storage order into <paramref name="row"/> (PaddedColumns long).</summary>
    private static void GroupScalarRow(PackedGroupScalar w, int r, CodeDecoder decoder, bool avx512, float[] row)
    {
        int groups = w.GroupsPerRow, stride = w.Symmetric ? 1 : 2;
        float[] parameters = ArrayPool<float>.Shared.Rent(groups * stride);
        try
        {
            w.DecodeParameters(r, parameters);
            fixed (byte* codes = &w.Codes[(long)r * w.RowBytes])
            fixed (float* output = row)
            {
                if (avx512)
                {
                    int segmentBytes = 2 * w.Bits;
                    for (int k = 0; k < w.Columns; k += 16)
                    {
                        int group = k / w.GroupSize;
                        float zero = w.Symmetric ? w.SymmetricZero : parameters[group * 2 + 1];
                        Vector512<float> q = decoder.Decode(codes + k / 16 * segmentBytes);
                        Avx512F.Store(output + k, (q - Vector512.Create(zero)) * Vector512.Create(parameters[group * stride]));
                    }
                    return;
                }
                RowAlignedCodes.DecodeRow(new ReadOnlySpan<byte>(codes, w.RowBytes), w.Bits, row.AsSpan(0, w.Columns));
                for (int g = 0; g < groups; g++)
                {
                    float scale = parameters[g * stride], zero = w.Symmetric ? w.SymmetricZero : parameters[g * 2 + 1];
                    int end = Math.Min(w.Columns, (g + 1) * w.GroupSize);
                    for (int k = g * w.GroupSize; k < end; k++)
                        output[k] = scale * (output[k] - zero);
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(parameters);
        }
    }

    /// <summary>Writes W into <paramref name="weights"/>: each code's centroid, looked up in its group's decoded codebook.</summary>
    public static void Dequantize(PackedVectorCodes w, Span<float> weights, bool useAvx512 = true)
    {
        ArgumentNullException.ThrowIfNull(w);
        CheckLength(weights, (long)w.Rows * w.Columns);
        if (useAvx512 && CentroidLookup.Fits(w))
        {
            DequantizeAvx512(w, weights);
            return;
        }
        int rowGroups = (w.Rows + w.GroupRows - 1) / w.GroupRows, length = w.CodebookLength, d = w.Dimension;
        fixed (float* output = weights)
        {
            nint target = (nint)output;
            RowPartition.For(rowGroups, (long)w.GroupRows * w.Columns, (first, end) =>
            {
                float[] tables = ArrayPool<float>.Shared.Rent(VectorCodesMatVec.TablesPayOff(w) ? w.ColumnGroups * length : 1);
                try
                {
                    for (int rowGroup = first; rowGroup < end; rowGroup++)
                    {
                        bool useTables = VectorCodesMatVec.TablesPayOff(w);
                        if (useTables)
                            for (int cg = 0; cg < w.ColumnGroups; cg++)
                                for (int i = 0; i < length; i++)
                                    tables[cg * length + i] = w.CodebookValue(rowGroup * w.ColumnGroups + cg, i);
                        int lastRow = Math.Min(w.Rows, (rowGroup + 1) * w.GroupRows);
                        for (int r = rowGroup * w.GroupRows; r < lastRow; r++)
                        {
                            ReadOnlySpan<byte> codes = w.Codes.AsSpan((int)((long)r * w.RowBytes), w.RowBytes);
                            float* destination = (float*)target + (long)r * w.Columns;
                            for (int v = 0; v < w.VectorsPerRow; v++)
                            {
                                int column = v * d, entry = RowAlignedCodes.Read(codes, 0, v, w.Bits) * d;
                                if (useTables)
                                {
                                    int at = column / w.GroupColumns * length + entry;
                                    for (int j = 0; j < d; j++)
                                        destination[column + j] = tables[at + j];
                                }
                                else
                                {
                                    int group = w.GroupOf(r, column);
                                    for (int j = 0; j < d; j++)
                                        destination[column + j] = w.CodebookValue(group, entry + j);
                                }
                            }
                        }
                    }
                }
                finally
                {
                    ArrayPool<float>.Shared.Return(tables);
                }
            });
        }
    }

    /// <summary>VQ rows by the in-register codebook lookup (<see cref="CentroidLookup"/>), 16 weights per step.</summary>
    private static void DequantizeAvx512(PackedVectorCodes w, Span<float> weights)
    {
        int rowGroups = (w.Rows + w.GroupRows - 1) / w.GroupRows, length = w.CodebookLength, columnGroups = w.ColumnGroups;
        int segments = (w.Columns + 15) / 16, segmentsPerGroup = w.GroupColumns / 16;
        var lookup = new CentroidLookup(w.Dimension, w.Bits);
        fixed (float* output = weights)
        fixed (byte* allCodes = w.Codes)
        {
            nint target = (nint)output, source = (nint)allCodes;
            RowPartition.For(rowGroups, (long)w.GroupRows * w.Columns, (first, end) =>
            {
                float[] tableArray = ArrayPool<float>.Shared.Rent(columnGroups * CentroidLookup.TableLength);
                float* row = stackalloc float[16];
                try
                {
                    fixed (float* t = tableArray)
                    {
                        for (int rowGroup = first; rowGroup < end; rowGroup++)
                        {
                            Array.Clear(tableArray, 0, columnGroups * CentroidLookup.TableLength);
                            for (int cg = 0; cg < columnGroups; cg++)
                                for (int i = 0; i < length; i++)
                                    t[cg * CentroidLookup.TableLength + i] = w.CodebookValue(rowGroup * columnGroups + cg, i);
                            int lastRow = Math.Min(w.Rows, (rowGroup + 1) * w.GroupRows);
                            for (int r = rowGroup * w.GroupRows; r < lastRow; r++)
                            {
                                byte* codes = (byte*)source + (long)r * w.RowBytes;
                                float* destination = (float*)target + (long)r * w.Columns;
                                for (int s = 0; s < segments; s++)
                                {
                                    Vector512<float> values = lookup.Weights(codes, s, t + s / segmentsPerGroup * CentroidLookup.TableLength);
                                    int count = Math.Min(16, w.Columns - 16 * s);
                                    if (count == 16)
                                    {
                                        Avx512F.Store(destination + 16 * s, values);
                                    }
                                    else
                                    {
                                        Avx512F.Store(row, values);
                                        new Span<float>(row, count).CopyTo(new Span<float>(destination + 16 * s, count));
                                    }
                                }
                            }
                        }
                    }
                }
                finally
                {
                    ArrayPool<float>.Shared.Return(tableArray);
                }
            });
        }
    }

    /// <summary>Writes W into <paramref name="weights"/> from ggml blocks.</summary>
    public static void Dequantize(PackedGgmlBlocks w, Span<float> weights, bool useAvx512 = true)
    {
        ArgumentNullException.ThrowIfNull(w);
        CheckLength(weights, (long)w.Rows * w.Columns);
        bool avx512 = useAvx512 && Avx512BW.IsSupported;
        int blockBytes = w.BlockBytes, blocksPerRow = w.BlocksPerRow;
        GgmlBlockType type = w.Type;
        fixed (float* output = weights)
        fixed (byte* blocks = w.Blocks)
        {
            nint target = (nint)output, source = (nint)blocks;
            RowPartition.For(w.Rows, w.Columns, (first, end) =>
            {
                for (long b = (long)first * blocksPerRow; b < (long)end * blocksPerRow; b++)
                {
                    byte* block = (byte*)source + b * blockBytes;
                    float* destination = (float*)target + b * PackedGgmlBlocks.BlockSize;
                    if (!avx512)
                    {
                        PackedReference.DecodeBlock(type, new ReadOnlySpan<byte>(block, blockBytes), new Span<float>(destination, PackedGgmlBlocks.BlockSize));
                        continue;
                    }
                    GgmlBlockCodes.Decode(type, block, out Vector512<int> low, out Vector512<int> high);
                    var d = Vector512.Create(GgmlMatVec.Half(block));
                    Vector512<float> lowValues, highValues;
                    if (type is GgmlBlockType.Q4_1 or GgmlBlockType.Q5_1)
                    {
                        var m = Vector512.Create(GgmlMatVec.Half(block + 2));
                        lowValues = Avx512F.ConvertToVector512Single(low) * d + m;
                        highValues = Avx512F.ConvertToVector512Single(high) * d + m;
                    }
                    else
                    {
                        var offset = Vector512.Create(type switch { GgmlBlockType.Q4_0 => 8, GgmlBlockType.Q5_0 => 16, _ => 0 });
                        lowValues = Avx512F.ConvertToVector512Single(low - offset) * d;
                        highValues = Avx512F.ConvertToVector512Single(high - offset) * d;
                    }
                    Avx512F.Store(destination, lowValues);
                    Avx512F.Store(destination + 16, highValues);
                }
            });
        }
    }

    private static void CheckLength(Span<float> weights, long expected)
    {
        if (weights.Length != expected)
            throw new ArgumentException($"The output must hold {expected} values, got {weights.Length}.", nameof(weights));
    }
}
