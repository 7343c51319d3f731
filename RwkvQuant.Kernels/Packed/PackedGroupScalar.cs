namespace RwkvQuant.Kernels.Packed;

/// <summary>
/// A group-scalar weight <c>[Rows, Columns]</c> laid out for the kernels: b-bit codes q (2–8) in the row-aligned stream
/// of <see cref="RowAlignedCodes"/> (storage column order), and per (row, group of <see cref="GroupSize"/> storage
/// columns) the scale s then, when asymmetric, the zero z, as 16-bit words (<see cref="GroupParameters"/>,
/// <c>[Rows, GroupsPerRow, ParameterWords]</c>). Weight = s·(q − z), z = 2^(b−1) when symmetric; storage column k holds
/// original column <c>Permutation[k]</c> when a permutation (act-order) is present.
/// Same bytes as the dense stored form, plus at most 63 codes of padding per row.
/// </summary>
public sealed class PackedGroupScalar
{
    private PackedGroupScalar(int rows, int columns, int bits, int groupSize, bool symmetric, ScaleFormat format,
        byte[] codes, ushort[] parameters, int[]? permutation)
    {
        Rows = rows;
        Columns = columns;
        Bits = bits;
        GroupSize = groupSize;
        Symmetric = symmetric;
        Format = format;
        Codes = codes;
        GroupParameters = parameters;
        Permutation = permutation;
    }

    /// <summary>Rows of W (outputs).</summary>
    public int Rows { get; }

    /// <summary>Columns of W (inputs).</summary>
    public int Columns { get; }

    /// <summary>Bits per code b, 2–8.</summary>
    public int Bits { get; }

    /// <summary>Consecutive storage columns sharing (s, z); the last group of a row may be shorter.</summary>
    public int GroupSize { get; }

    /// <summary>True when every zero is 2^(b−1) (no zeros stored).</summary>
    public bool Symmetric { get; }

    /// <summary>The precision of the stored scales and zeros.</summary>
    public ScaleFormat Format { get; }

    /// <summary>The row-aligned codes, <see cref="RowBytes"/> per row plus slack.</summary>
    public byte[] Codes { get; }

    /// <summary>Per (row, group): the scale's words, then the zero's words unless symmetric.</summary>
    public ushort[] GroupParameters { get; }

    /// <summary>Storage column k holds original column <c>Permutation[k]</c>; null for the identity.</summary>
    public int[]? Permutation { get; }

    /// <summary>Groups in one row, ⌈Columns / GroupSize⌉.</summary>
    public int GroupsPerRow => (Columns + GroupSize - 1) / GroupSize;

    /// <summary>Bytes of one row of codes: 8·b·⌈Columns / 64⌉.</summary>
    public int RowBytes => RowAlignedCodes.RowBytes(Columns, Bits);

    /// <summary>Columns rounded up to a multiple of 64 (the codes each row holds, padding included).</summary>
    public int PaddedColumns => (Columns + 63) / 64 * 64;

    /// <summary>16-bit words per (row, group): scale (and zero).</summary>
    public int ParameterWords => ScaleWords.WordsPerValue(Format) * (Symmetric ? 1 : 2);

    /// <summary>The value z of a symmetric grid, 2^(b−1).</summary>
    public float SymmetricZero => 1 << (Bits - 1);

    /// <summary>Bytes the kernels read for one product: codes, parameters and the permutation.</summary>
    public long PackedBytes => Codes.LongLength + 2L * GroupParameters.LongLength + 4L * (Permutation?.LongLength ?? 0);

    /// <summary>The scale of (row, group).</summary>
    public float Scale(int row, int group) =>
        ScaleWords.Decode(GroupParameters, (row * GroupsPerRow + group) * ParameterWords, Format);

    /// <summary>The zero of (row, group).</summary>
    public float Zero(int row, int group) => Symmetric
        ? SymmetricZero
        : ScaleWords.Decode(GroupParameters, (row * GroupsPerRow + group) * ParameterWords + ScaleWords.WordsPerValue(Format), Format);

    /// <summary>Row <paramref name="row"/>'s parameters (s, or s then z, per group) as float32 into <paramref name="destination"/>.</summary>
    public void DecodeParameters(int row, Span<float> destination)
    {
        int count = GroupsPerRow * (Symmetric ? 1 : 2);
        ScaleWords.DecodeAll(GroupParameters.AsSpan(row * GroupsPerRow * ParameterWords, GroupsPerRow * ParameterWords), destination[..count], Format);
    }

    /// <summary>
    /// Converts the dense stored form: <paramref name="packedCodes"/> the b-bit codes of all rows back to back (LSB-first,
    /// storage order), <paramref name="scales"/> and <paramref name="zeros"/> <c>[rows, groups]</c> little-endian in
    /// <paramref name="format"/> (zeros empty when symmetric), <paramref name="permutation"/> the storage order (empty
    /// for the identity).
    /// </summary>
    /// <exception cref="ArgumentException">A part has the wrong size or the permutation is not one.</exception>
    public static PackedGroupScalar FromDense(int rows, int columns, int bits, int groupSize, bool symmetric, ScaleFormat format,
        ReadOnlySpan<byte> packedCodes, ReadOnlySpan<byte> scales, ReadOnlySpan<byte> zeros, ReadOnlySpan<int> permutation)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(bits, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bits, 8);
        ArgumentOutOfRangeException.ThrowIfLessThan(groupSize, 1);
        if (!Enum.IsDefined(format))
            throw new ArgumentOutOfRangeException(nameof(format), format, "Unknown scale format.");
        int groupsPerRow = (columns + groupSize - 1) / groupSize;
        long groups = (long)rows * groupsPerRow;
        int valueWords = ScaleWords.WordsPerValue(format);
        if (scales.Length != groups * valueWords * 2)
            throw new ArgumentException($"[{rows}, {columns}] in groups of {groupSize} needs {groups * valueWords * 2} bytes of scales, got {scales.Length}.", nameof(scales));
        if (zeros.Length != (symmetric ? 0 : scales.Length))
            throw new ArgumentException($"Needs {(symmetric ? 0 : scales.Length)} bytes of zeros, got {zeros.Length}.", nameof(zeros));
        int[]? order = null;
        if (!permutation.IsEmpty)
        {
            if (permutation.Length != columns || !IsPermutation(permutation))
                throw new ArgumentException($"The column order is not a permutation of 0..{columns - 1}.", nameof(permutation));
            order = permutation.ToArray();
        }
        byte[] codes = RowAlignedCodes.FromDense(packedCodes, rows, columns, bits);
        int parameterWords = valueWords * (symmetric ? 1 : 2);
        var parameters = new ushort[checked(groups * parameterWords)];
        for (long g = 0; g < groups; g++)
        {
            for (int w = 0; w < valueWords; w++)
            {
                long source = 2 * (g * valueWords + w);
                parameters[g * parameterWords + w] = (ushort)(scales[(int)source] | scales[(int)source + 1] << 8);
                if (!symmetric)
                    parameters[g * parameterWords + valueWords + w] = (ushort)(zeros[(int)source] | zeros[(int)source + 1] << 8);
            }
        }
        return new PackedGroupScalar(rows, columns, bits, groupSize, symmetric, format, codes, parameters, order);
    }

    private static bool IsPermutation(ReadOnlySpan<int> permutation)
    {
        var seen = new bool[permutation.Length];
        foreach (int column in permutation)
        {
            if ((uint)column >= (uint)permutation.Length || seen[column])
                return false;
            seen[column] = true;
        }
        return true;
    }
}
