using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace RwkvQuant.Kernels.Packed;

/// <summary>
/// A vector-quantized weight <c>[Rows, Columns]</c> laid out for the kernels. Codebook groups of
/// <see cref="GroupRows"/> × <see cref="GroupColumns"/> (edge groups smaller) are numbered row-major; each holds
/// 2^b centroids of dimension d (L = 2^b·d values). Code (row, v) picks the centroid for columns [v·d, v·d + d) of the
/// row from its group's codebook. Codes are in the row-aligned stream of <see cref="RowAlignedCodes"/> (Columns / d
/// codes per row); codebooks stay in their stored form: int8 + FP16 scale, FP16, or float32 (rebuilt from SVD factors).
/// </summary>
public sealed class PackedVectorCodes
{
    private PackedVectorCodes(int rows, int columns, int dimension, int bits, int groupRows, int groupColumns, byte[] codes,
        CodebookFormat format, sbyte[] int8, ushort[] halves, float[] floats)
    {
        Rows = rows;
        Columns = columns;
        Dimension = dimension;
        Bits = bits;
        GroupRows = groupRows;
        GroupColumns = groupColumns;
        Codes = codes;
        Format = format;
        SignedValues = int8;
        Halves = halves;
        Floats = floats;
    }

    /// <summary>Rows of W (outputs).</summary>
    public int Rows { get; }

    /// <summary>Columns of W (inputs).</summary>
    public int Columns { get; }

    /// <summary>Vector dimension d (1, 2 or 4 from the quantizers; any divisor of the group width works).</summary>
    public int Dimension { get; }

    /// <summary>Bits per code b (1–12).</summary>
    public int Bits { get; }

    /// <summary>Rows sharing one codebook.</summary>
    public int GroupRows { get; }

    /// <summary>Columns sharing one codebook (the last group of a row may be narrower).</summary>
    public int GroupColumns { get; }

    /// <summary>The row-aligned codes, <see cref="RowBytes"/> per row plus slack.</summary>
    public byte[] Codes { get; }

    /// <summary>How the codebooks are stored.</summary>
    public CodebookFormat Format { get; }

    /// <summary>int8 codebook values <c>[Groups, L]</c> (Int8Scaled), else empty.</summary>
    public sbyte[] SignedValues { get; }

    /// <summary>FP16 words: the per-codebook scales <c>[Groups]</c> (Int8Scaled) or the values <c>[Groups, L]</c> (F16).</summary>
    public ushort[] Halves { get; }

    /// <summary>float32 codebook values <c>[Groups, L]</c> (F32), else empty.</summary>
    public float[] Floats { get; }

    /// <summary>Codes in one row, Columns / d.</summary>
    public int VectorsPerRow => Columns / Dimension;

    /// <summary>Bytes of one row of codes (whole 64-bit words).</summary>
    public int RowBytes => RowAlignedCodes.RowBytes(VectorsPerRow, Bits);

    /// <summary>Codebook groups across one row.</summary>
    public int ColumnGroups => (Columns + GroupColumns - 1) / GroupColumns;

    /// <summary>Codebooks in all: row groups × column groups.</summary>
    public int Groups => (Rows + GroupRows - 1) / GroupRows * ColumnGroups;

    /// <summary>Values per codebook, 2^b·d.</summary>
    public int CodebookLength => (1 << Bits) * Dimension;

    /// <summary>Bytes the kernels read for one product: codes and codebooks.</summary>
    public long PackedBytes => Codes.LongLength + SignedValues.LongLength + 2L * Halves.LongLength + 4L * Floats.LongLength;

    /// <summary>The codebook of the vector starting at (row, column).</summary>
    public int GroupOf(int row, int column) => row / GroupRows * ColumnGroups + column / GroupColumns;

    /// <summary>Value <paramref name="index"/> (in [0, L)) of codebook <paramref name="group"/>.</summary>
    public float CodebookValue(int group, int index)
    {
        long i = (long)group * CodebookLength + index;
        return Format switch
        {
            CodebookFormat.Int8Scaled => ScaleWords.HalfToSingle(Halves[group]) * SignedValues[i],
            CodebookFormat.F16 => ScaleWords.HalfToSingle(Halves[i]),
            _ => Floats[i],
        };
    }

    /// <summary>
    /// Codebooks <paramref name="firstGroup"/> … + <paramref name="count"/> − 1 as float32, each
    /// <see cref="CodebookLength"/> values starting <paramref name="stride"/> apart in <paramref name="destination"/>,
    /// equal to <see cref="CodebookValue"/> value by value (one format test and scale per codebook, not per value).
    /// </summary>
    public void DecodeCodebooks(int firstGroup, int count, Span<float> destination, int stride)
    {
        int length = CodebookLength;
        if (Format == CodebookFormat.Int8Scaled)
        {
            DecodeInt8(firstGroup, count, destination, stride);
            return;
        }
        for (int g = 0; g < count; g++)
        {
            int group = firstGroup + g;
            Span<float> target = destination.Slice(g * stride, length);
            long first = (long)group * length;
            switch (Format)
            {
                case CodebookFormat.F16:
                    ScaleWords.DecodeAll(Halves.AsSpan((int)first, length), target, ScaleFormat.F16);
                    break;
                default:
                    Floats.AsSpan((int)first, length).CopyTo(target);
                    break;
            }
        }
    }

    /// <summary>
    /// The int8 codebooks of <see cref="DecodeCodebooks"/>: scale · value for each value, rounded once; with AVX2, 8 values
    /// per sign-extend, convert and multiply (the VQ products decode a row-group's codebooks per pair of rows, where a
    /// scalar loop per 8-value codebook was a visible share of the product), pinned once for all the codebooks.
    /// </summary>
    private unsafe void DecodeInt8(int firstGroup, int count, Span<float> destination, int stride)
    {
        int length = CodebookLength;
        if (count > 0 && (long)(count - 1) * stride + length > destination.Length)
            throw new ArgumentException($"{count} codebooks of {length} values {stride} apart need {(long)(count - 1) * stride + length} floats, got {destination.Length}.", nameof(destination));
        ReadOnlySpan<sbyte> all = SignedValues.AsSpan(checked(firstGroup * length), count * length);
        ReadOnlySpan<ushort> halves = Halves.AsSpan(firstGroup, count);
        fixed (sbyte* source = all)
        fixed (ushort* scales = halves)
        fixed (float* target = destination)
        {
            if (Avx2.IsSupported && length % 8 == 0)
            {
                for (int g = 0; g < count; g++)
                {
                    var scale = Vector256.Create(ScaleWords.HalfToSingle(scales[g]));
                    sbyte* values = source + (long)g * length;
                    float* output = target + (long)g * stride;
                    for (int i = 0; i < length; i += 8)
                        Avx.Store(output + i, scale * Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(values + i)));
                }
                return;
            }
            for (int g = 0; g < count; g++)
            {
                float scale = ScaleWords.HalfToSingle(scales[g]);
                for (int i = 0; i < length; i++)
                    target[(long)g * stride + i] = scale * source[(long)g * length + i];
            }
        }
    }

    /// <summary>Converts codes stored densely (all rows back to back) and int8 codebooks with FP16 scales (as raw bits).</summary>
    public static PackedVectorCodes FromInt8(int rows, int columns, int dimension, int bits, int groupRows, int groupColumns,
        ReadOnlySpan<byte> packedCodes, ReadOnlySpan<sbyte> values, ReadOnlySpan<ushort> scales)
    {
        var (codes, groups, length) = Prepare(rows, columns, dimension, bits, groupRows, groupColumns, packedCodes);
        if (values.Length != (long)groups * length || scales.Length != groups)
            throw new ArgumentException($"{groups} int8 codebooks of {length} values need {(long)groups * length} values and {groups} scales, got {values.Length} and {scales.Length}.", nameof(values));
        return new PackedVectorCodes(rows, columns, dimension, bits, groupRows, groupColumns, codes, CodebookFormat.Int8Scaled, values.ToArray(), scales.ToArray(), []);
    }

    /// <summary>Converts codes stored densely and FP16 codebooks (as raw bits).</summary>
    public static PackedVectorCodes FromHalf(int rows, int columns, int dimension, int bits, int groupRows, int groupColumns,
        ReadOnlySpan<byte> packedCodes, ReadOnlySpan<ushort> codebooks)
    {
        var (codes, groups, length) = Prepare(rows, columns, dimension, bits, groupRows, groupColumns, packedCodes);
        if (codebooks.Length != (long)groups * length)
            throw new ArgumentException($"{groups} FP16 codebooks of {length} values need {(long)groups * length} values, got {codebooks.Length}.", nameof(codebooks));
        return new PackedVectorCodes(rows, columns, dimension, bits, groupRows, groupColumns, codes, CodebookFormat.F16, [], codebooks.ToArray(), []);
    }

    /// <summary>Converts codes stored densely and float32 codebooks (e.g. rebuilt from SVD factors).</summary>
    public static PackedVectorCodes FromSingle(int rows, int columns, int dimension, int bits, int groupRows, int groupColumns,
        ReadOnlySpan<byte> packedCodes, ReadOnlySpan<float> codebooks)
    {
        var (codes, groups, length) = Prepare(rows, columns, dimension, bits, groupRows, groupColumns, packedCodes);
        if (codebooks.Length != (long)groups * length)
            throw new ArgumentException($"{groups} codebooks of {length} values need {(long)groups * length} values, got {codebooks.Length}.", nameof(codebooks));
        return new PackedVectorCodes(rows, columns, dimension, bits, groupRows, groupColumns, codes, CodebookFormat.F32, [], [], codebooks.ToArray());
    }

    private static (byte[] Codes, int Groups, int Length) Prepare(int rows, int columns, int dimension, int bits, int groupRows, int groupColumns,
        ReadOnlySpan<byte> packedCodes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(bits, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bits, 12);
        ArgumentOutOfRangeException.ThrowIfLessThan(groupRows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(groupColumns, 1);
        if (columns % dimension != 0 || groupColumns % dimension != 0)
            throw new ArgumentException($"Columns {columns} and group width {groupColumns} must be multiples of the dimension {dimension}.", nameof(dimension));
        int groups = checked((rows + groupRows - 1) / groupRows * ((columns + groupColumns - 1) / groupColumns));
        return (RowAlignedCodes.FromDense(packedCodes, rows, columns / dimension, bits), groups, (1 << bits) * dimension);
    }
}
