using System.Numerics;
using RwkvQuant.Packing;
using RwkvQuant.Quantization;

namespace RwkvQuant.Scalar;

/// <summary>
/// A weight <c>[rows, columns]</c> quantized per group onto uniform grids: each run of <see cref="GroupSize"/>
/// consecutive columns of a row (the last run of a row is shorter when <c>columns % GroupSize ≠ 0</c>) has a scale s
/// and, when asymmetric, a zero z, and each weight stores a <see cref="Bits"/>-bit code q:
/// x̂ = s·(q − z) (asymmetric) or x̂ = s·(q − 2^(b−1)) (symmetric, no stored zero).
/// </summary>
/// <remarks>
/// Storage: the codes bit-packed with <see cref="BitPacking"/> (b bits each, row-major); scales and zeros in
/// <see cref="ScalePrecision"/> (zeros are real numbers, not integers, stored like the scales); and, when the
/// columns were quantized in another order (GPTQ act-order), the permutation, ⌈log₂ columns⌉ bits per column. Codes
/// and groups follow that storage order: storage column k holds original column <c>Permutation[k]</c>.
/// <see cref="StoredBits"/> counts exactly these; the few per-tensor constants (b, group size, flags) are not counted.
/// </remarks>
public sealed class GroupScalarTensor : QuantizedTensor
{
    private readonly byte[] _codes;
    private readonly byte[] _scales;
    private readonly byte[]? _zeros;
    private readonly byte[]? _permutation;

    /// <summary>Packs a quantized weight. <paramref name="codes"/> are row-major in storage order; <paramref name="scales"/>
    /// and <paramref name="zeros"/> are <c>[rows, GroupsPerRow]</c>, each exactly representable in <paramref name="precision"/>.</summary>
    internal GroupScalarTensor(
        string name, int rows, int columns, string method, int bits, int groupSize, bool symmetric, ScalePrecision precision,
        ReadOnlySpan<int> codes, ReadOnlySpan<float> scales, ReadOnlySpan<float> zeros, int[]? permutation)
        : base(name, rows, columns)
    {
        ArgumentException.ThrowIfNullOrEmpty(method);
        ArgumentOutOfRangeException.ThrowIfLessThan(bits, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bits, 8);
        ArgumentOutOfRangeException.ThrowIfLessThan(groupSize, 1);
        Method = method;
        Bits = bits;
        GroupSize = groupSize;
        Symmetric = symmetric;
        ScalePrecision = precision;
        long groupCount = (long)rows * GroupsPerRow;
        if (codes.Length != ElementCount)
            throw new ArgumentException($"Tensor '{name}' [{rows}, {columns}] needs {ElementCount} codes, got {codes.Length}.", nameof(codes));
        if (scales.Length != groupCount || zeros.Length != (symmetric ? 0 : groupCount))
            throw new ArgumentException($"Tensor '{name}' needs {groupCount} scales and {(symmetric ? 0 : groupCount)} zeros, got {scales.Length} and {zeros.Length}.", nameof(scales));
        _codes = BitPacking.Pack(codes, bits);
        _scales = StoredFloat.Encode(scales, precision);
        _zeros = symmetric ? null : StoredFloat.Encode(zeros, precision);
        if (permutation is not null)
        {
            if (permutation.Length != columns || !IsPermutation(permutation))
                throw new ArgumentException($"Tensor '{name}': the column order is not a permutation of 0..{columns - 1}.", nameof(permutation));
            _permutation = BitPacking.Pack(permutation, PermutationBits(columns));
        }
    }

    private GroupScalarTensor(
        string name, int rows, int columns, string method, int bits, int groupSize, bool symmetric, ScalePrecision precision,
        byte[] codes, byte[] scales, byte[]? zeros, byte[]? permutation)
        : base(name, rows, columns)
    {
        Method = method;
        Bits = bits;
        GroupSize = groupSize;
        Symmetric = symmetric;
        ScalePrecision = precision;
        _codes = codes;
        _scales = scales;
        _zeros = zeros;
        _permutation = permutation;
    }

    /// <summary>
    /// Rebuilds a tensor from its stored parts (as <see cref="PackedCodes"/>, <see cref="StoredScales"/>,
    /// <see cref="StoredZeros"/> and <see cref="PackedPermutation"/> expose them), taking the arrays. Every size is
    /// checked, and a stored permutation must be one.
    /// </summary>
    /// <exception cref="ArgumentException">A part has the wrong size, or the permutation is not a permutation.</exception>
    internal static GroupScalarTensor FromStoredParts(
        string name, int rows, int columns, string method, int bits, int groupSize, bool symmetric, ScalePrecision precision,
        byte[] codes, byte[] scales, byte[]? zeros, byte[]? permutation)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentException.ThrowIfNullOrEmpty(method);
        ArgumentNullException.ThrowIfNull(codes);
        ArgumentNullException.ThrowIfNull(scales);
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(bits, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bits, 8);
        ArgumentOutOfRangeException.ThrowIfLessThan(groupSize, 1);
        long groups = (long)rows * ((columns + groupSize - 1) / groupSize);
        long floatBytes = StoredFloat.BitCount(precision) / 8;
        if (codes.LongLength != BitPacking.PackedLength((long)rows * columns, bits))
            throw new ArgumentException($"Tensor '{name}' [{rows}, {columns}] needs {BitPacking.PackedLength((long)rows * columns, bits)} bytes of {bits}-bit codes, got {codes.LongLength}.", nameof(codes));
        if (scales.LongLength != groups * floatBytes)
            throw new ArgumentException($"Tensor '{name}' needs {groups * floatBytes} bytes of scales, got {scales.LongLength}.", nameof(scales));
        if (symmetric != (zeros is null) || (zeros is not null && zeros.LongLength != groups * floatBytes))
            throw new ArgumentException($"Tensor '{name}' needs {(symmetric ? 0 : groups * floatBytes)} bytes of zeros, got {zeros?.LongLength ?? 0}.", nameof(zeros));
        if (permutation is not null)
        {
            int permutationBits = PermutationBits(columns);
            if (permutation.LongLength != BitPacking.PackedLength(columns, permutationBits) ||
                !IsPermutation(BitPacking.Unpack(permutation, permutationBits, columns)))
                throw new ArgumentException($"Tensor '{name}': the stored column order is not a permutation of 0..{columns - 1}.", nameof(permutation));
        }
        return new GroupScalarTensor(name, rows, columns, method, bits, groupSize, symmetric, precision, codes, scales, zeros, permutation);
    }

    /// <summary>The quantizer that produced it, e.g. <c>"rtn"</c> or <c>"gptq"</c>.</summary>
    public string Method { get; }

    /// <summary>Bits per code, 2–8.</summary>
    public int Bits { get; }

    /// <summary>Consecutive columns (in storage order) sharing a scale and zero; the last group of a row may be shorter.</summary>
    public int GroupSize { get; }

    /// <summary>True when the zero is the fixed 2^(b−1) and not stored.</summary>
    public bool Symmetric { get; }

    /// <summary>Precision of the stored scales and zeros.</summary>
    public ScalePrecision ScalePrecision { get; }

    /// <summary>Groups per row, ⌈columns / GroupSize⌉.</summary>
    public int GroupsPerRow => (Columns + GroupSize - 1) / GroupSize;

    /// <summary>True when a column permutation is stored (act-order).</summary>
    public bool HasPermutation => _permutation is not null;

    /// <summary>The packed codes (b bits each, row-major, storage order; see <see cref="BitPacking"/>).</summary>
    public ReadOnlySpan<byte> PackedCodes => _codes;

    /// <summary>The stored scales, <c>[rows, GroupsPerRow]</c> little-endian in <see cref="ScalePrecision"/>.</summary>
    internal ReadOnlySpan<byte> StoredScales => _scales;

    /// <summary>The stored zeros like <see cref="StoredScales"/>; empty when symmetric.</summary>
    internal ReadOnlySpan<byte> StoredZeros => _zeros;

    /// <summary>The packed column order (⌈log₂ columns⌉ bits per column); empty without one.</summary>
    internal ReadOnlySpan<byte> PackedPermutation => _permutation;

    /// <inheritdoc />
    public override string Scheme =>
        $"{Method} {(Symmetric ? "s" : "a")}{Bits} g{GroupSize} {ScalePrecision.ToString().ToLowerInvariant()}{(HasPermutation ? " act-order" : "")}";

    /// <summary>
    /// Codes · b + groups · (bits of a scale + bits of a zero, unless symmetric) + (columns · ⌈log₂ columns⌉ with a
    /// permutation). E.g. 3-bit codes, groups of 64, FP16 scale and zero: 3 + 32/64 = 3.5 bits per weight.
    /// </summary>
    public override long StoredBits
    {
        get => StoredBitsOf(Rows, Columns, Bits, GroupSize, Symmetric, ScalePrecision, HasPermutation);
    }

    /// <summary><see cref="StoredBits"/> of a <c>[rows, columns]</c> tensor with these settings, from the shape alone.</summary>
    internal static long StoredBitsOf(int rows, int columns, int bits, int groupSize, bool symmetric, ScalePrecision precision, bool permutation)
    {
        long groups = (long)rows * ((columns + groupSize - 1) / groupSize);
        long overhead = groups * StoredFloat.BitCount(precision) * (symmetric ? 1 : 2);
        long order = permutation ? (long)columns * PermutationBits(columns) : 0;
        return (long)rows * columns * bits + overhead + order;
    }

    /// <summary>The codes, unpacked, row-major in storage order.</summary>
    public int[] GetCodes() => BitPacking.Unpack(_codes, Bits, checked((int)ElementCount));

    /// <summary>The scale of group <paramref name="group"/> of row <paramref name="row"/>.</summary>
    public float GetScale(int row, int group) => StoredFloat.Decode(_scales, GroupIndex(row, group), ScalePrecision);

    /// <summary>The zero of group <paramref name="group"/> of row <paramref name="row"/> (2^(b−1) when symmetric).</summary>
    public float GetZero(int row, int group) =>
        _zeros is null ? 1 << (Bits - 1) : StoredFloat.Decode(_zeros, GroupIndex(row, group), ScalePrecision);

    /// <summary>The stored column order: storage column k holds original column <c>[k]</c> (identity without a permutation).</summary>
    public int[] GetColumnOrder() =>
        _permutation is null ? Enumerable.Range(0, Columns).ToArray() : BitPacking.Unpack(_permutation, PermutationBits(Columns), Columns);

    /// <inheritdoc />
    public override float[] Dequantize()
    {
        int[] codes = GetCodes();
        int[] order = GetColumnOrder();
        var weights = new float[ElementCount];
        for (int row = 0; row < Rows; row++)
        {
            long rowStart = (long)row * Columns;
            float scale = 0, zero = 0;
            for (int k = 0; k < Columns; k++)
            {
                if (k % GroupSize == 0)
                    (scale, zero) = (GetScale(row, k / GroupSize), GetZero(row, k / GroupSize));
                weights[rowStart + order[k]] = scale * (codes[rowStart + k] - zero);
            }
        }
        return weights;
    }

    /// <summary>Bits of one stored column index: ⌈log₂ columns⌉, at least 1.</summary>
    internal static int PermutationBits(int columns) => columns <= 2 ? 1 : BitOperations.Log2((uint)(columns - 1)) + 1;

    private long GroupIndex(int row, int group)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, Rows);
        ArgumentOutOfRangeException.ThrowIfNegative(group);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(group, GroupsPerRow);
        return (long)row * GroupsPerRow + group;
    }

    private static bool IsPermutation(int[] permutation)
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
