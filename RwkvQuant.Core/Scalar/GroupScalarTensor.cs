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
/// <see cref="ScalePrecision"/> (zeros are real numbers, not integers, stored like the scales; with
/// <see cref="ScalePrecision.Int6"/>, 6-bit values bit-packed and an FP16 step per row and super-block); and, when the
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
    private readonly byte[]? _steps;

    /// <summary>Packs a quantized weight. <paramref name="codes"/> are row-major in storage order; <paramref name="scales"/>
    /// and <paramref name="zeros"/> are <c>[rows, GroupsPerRow]</c>, each exactly representable in <paramref name="precision"/>;
    /// with <see cref="ScalePrecision.Int6"/>, <paramref name="steps"/> are the FP16 steps <c>[rows, super-blocks per row]</c>
    /// and every scale is a multiple 0…63 of its step, every zero one of the 64 stored zeros.</summary>
    internal GroupScalarTensor(
        string name, int rows, int columns, string method, int bits, int groupSize, bool symmetric, ScalePrecision precision,
        ReadOnlySpan<int> codes, ReadOnlySpan<float> scales, ReadOnlySpan<float> zeros, int[]? permutation, ReadOnlySpan<float> steps = default)
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
        if (precision == ScalePrecision.Int6)
        {
            (_scales, _zeros, _steps) = EncodeInt6(name, rows, bits, symmetric, scales, zeros, steps);
        }
        else
        {
            if (!steps.IsEmpty)
                throw new ArgumentException($"Tensor '{name}': only {ScalePrecision.Int6} scales have super-block steps.", nameof(steps));
            _scales = StoredFloat.Encode(scales, precision);
            _zeros = symmetric ? null : StoredFloat.Encode(zeros, precision);
        }
        if (permutation is not null)
        {
            if (permutation.Length != columns || !IsPermutation(permutation))
                throw new ArgumentException($"Tensor '{name}': the column order is not a permutation of 0..{columns - 1}.", nameof(permutation));
            _permutation = BitPacking.Pack(permutation, PermutationBits(columns));
        }
    }

    private GroupScalarTensor(
        string name, int rows, int columns, string method, int bits, int groupSize, bool symmetric, ScalePrecision precision,
        byte[] codes, byte[] scales, byte[]? zeros, byte[]? permutation, byte[]? steps)
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
        _steps = steps;
    }

    /// <summary>
    /// Rebuilds a tensor from its stored parts (as <see cref="PackedCodes"/>, <see cref="StoredScales"/>,
    /// <see cref="StoredZeros"/>, <see cref="PackedPermutation"/> and <see cref="StoredSteps"/> expose them), taking the
    /// arrays. Every size is checked, a stored permutation must be one, and super-block steps must be finite and ≥ 0.
    /// </summary>
    /// <exception cref="ArgumentException">A part has the wrong size, the permutation is not a permutation, or a step is not finite.</exception>
    internal static GroupScalarTensor FromStoredParts(
        string name, int rows, int columns, string method, int bits, int groupSize, bool symmetric, ScalePrecision precision,
        byte[] codes, byte[] scales, byte[]? zeros, byte[]? permutation, byte[]? steps = null)
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
        int groupsPerRow = (columns + groupSize - 1) / groupSize;
        long groups = (long)rows * groupsPerRow;
        long parameterBytes = precision == ScalePrecision.Int6 ? BitPacking.PackedLength(groups, Int6Scales.ValueBits) : groups * (StoredFloat.BitCount(precision) / 8);
        if (codes.LongLength != BitPacking.PackedLength((long)rows * columns, bits))
            throw new ArgumentException($"Tensor '{name}' [{rows}, {columns}] needs {BitPacking.PackedLength((long)rows * columns, bits)} bytes of {bits}-bit codes, got {codes.LongLength}.", nameof(codes));
        if (scales.LongLength != parameterBytes)
            throw new ArgumentException($"Tensor '{name}' needs {parameterBytes} bytes of scales, got {scales.LongLength}.", nameof(scales));
        if (symmetric != (zeros is null) || (zeros is not null && zeros.LongLength != parameterBytes))
            throw new ArgumentException($"Tensor '{name}' needs {(symmetric ? 0 : parameterBytes)} bytes of zeros, got {zeros?.LongLength ?? 0}.", nameof(zeros));
        long stepBytes = precision == ScalePrecision.Int6 ? (long)rows * Int6Scales.SuperBlocks(groupsPerRow) * 2 : 0;
        if ((steps?.LongLength ?? 0) != stepBytes || (stepBytes > 0) != (steps is not null))
            throw new ArgumentException($"Tensor '{name}' needs {stepBytes} bytes of super-block steps, got {steps?.LongLength ?? 0}.", nameof(steps));
        for (long i = 0; i < stepBytes / 2; i++)
        {
            float step = StoredFloat.Decode(steps, i, ScalePrecision.F16);
            if (!float.IsFinite(step) || step < 0)
                throw new ArgumentException($"Tensor '{name}': super-block step {i} is {step}; steps are finite and not negative.", nameof(steps));
        }
        if (permutation is not null)
        {
            int permutationBits = PermutationBits(columns);
            if (permutation.LongLength != BitPacking.PackedLength(columns, permutationBits) ||
                !IsPermutation(BitPacking.Unpack(permutation, permutationBits, columns)))
                throw new ArgumentException($"Tensor '{name}': the stored column order is not a permutation of 0..{columns - 1}.", nameof(permutation));
        }
        return new GroupScalarTensor(name, rows, columns, method, bits, groupSize, symmetric, precision, codes, scales, zeros, permutation, steps);
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

    /// <summary>With <see cref="ScalePrecision.Int6"/>, the FP16 steps <c>[rows, super-blocks per row]</c>; else empty.</summary>
    internal ReadOnlySpan<byte> StoredSteps => _steps;

    /// <summary>Super-blocks per row with <see cref="ScalePrecision.Int6"/> (groups sharing a step), else 0.</summary>
    public int SuperBlocksPerRow => ScalePrecision == ScalePrecision.Int6 ? Int6Scales.SuperBlocks(GroupsPerRow) : 0;

    /// <summary>The packed column order (⌈log₂ columns⌉ bits per column); empty without one.</summary>
    internal ReadOnlySpan<byte> PackedPermutation => _permutation;

    /// <inheritdoc />
    public override string Scheme =>
        $"{Method} {(Symmetric ? "s" : "a")}{Bits} g{GroupSize} {ScalePrecision.ToString().ToLowerInvariant()}{(HasPermutation ? " act-order" : "")}";

    /// <summary>
    /// Codes · b + groups · (bits of a scale + bits of a zero, unless symmetric) + (16 bits per row and super-block with
    /// <see cref="ScalePrecision.Int6"/>) + (columns · ⌈log₂ columns⌉ with a permutation). E.g. 3-bit codes, groups of
    /// 64, FP16 scale and zero: 3 + 32/64 = 3.5 bits per weight; groups of 32 with Int6: 3 + 12/32 + 16/256 = 3.4375.
    /// </summary>
    public override long StoredBits
    {
        get => StoredBitsOf(Rows, Columns, Bits, GroupSize, Symmetric, ScalePrecision, HasPermutation);
    }

    /// <summary><see cref="StoredBits"/> of a <c>[rows, columns]</c> tensor with these settings, from the shape alone.</summary>
    internal static long StoredBitsOf(int rows, int columns, int bits, int groupSize, bool symmetric, ScalePrecision precision, bool permutation)
    {
        int groupsPerRow = (columns + groupSize - 1) / groupSize;
        long groups = (long)rows * groupsPerRow;
        long overhead = precision == ScalePrecision.Int6
            ? groups * Int6Scales.ValueBits * (symmetric ? 1 : 2) + (long)rows * Int6Scales.SuperBlocks(groupsPerRow) * Int6Scales.StepBits
            : groups * StoredFloat.BitCount(precision) * (symmetric ? 1 : 2);
        long order = permutation ? (long)columns * PermutationBits(columns) : 0;
        return (long)rows * columns * bits + overhead + order;
    }

    /// <summary>The codes, unpacked, row-major in storage order.</summary>
    public int[] GetCodes() => BitPacking.Unpack(_codes, Bits, checked((int)ElementCount));

    /// <summary>The scale of group <paramref name="group"/> of row <paramref name="row"/>.</summary>
    public float GetScale(int row, int group)
    {
        long index = GroupIndex(row, group);
        if (ScalePrecision != ScalePrecision.Int6)
            return StoredFloat.Decode(_scales, index, ScalePrecision);
        float step = StoredFloat.Decode(_steps, (long)row * SuperBlocksPerRow + group / Int6Scales.SuperBlockGroups, ScalePrecision.F16);
        return step * BitPacking.Read(_scales, Int6Scales.ValueBits, index);
    }

    /// <summary>The zero of group <paramref name="group"/> of row <paramref name="row"/> (2^(b−1) when symmetric).</summary>
    public float GetZero(int row, int group) =>
        _zeros is null ? 1 << (Bits - 1)
        : ScalePrecision == ScalePrecision.Int6 ? Int6Scales.Zero(BitPacking.Read(_zeros, Int6Scales.ValueBits, GroupIndex(row, group)), Bits)
        : StoredFloat.Decode(_zeros, GroupIndex(row, group), ScalePrecision);

    /// <summary>The stored column order: storage column k holds original column <c>[k]</c> (identity without a permutation).</summary>
    public int[] GetColumnOrder() =>
        _permutation is null ? Enumerable.Range(0, Columns).ToArray() : BitPacking.Unpack(_permutation, PermutationBits(Columns), Columns);

    /// <inheritdoc />
    public override float[] Dequantize()
    {
        int[] codes = GetCodes();
        int[] order = GetColumnOrder();
        (float[] scales, float[] zeros) = DecodeGroupParameters();
        var weights = new float[ElementCount];
        for (int row = 0; row < Rows; row++)
        {
            long rowStart = (long)row * Columns;
            float scale = 0, zero = 0;
            for (int k = 0; k < Columns; k++)
            {
                if (k % GroupSize == 0)
                    (scale, zero) = (scales[(long)row * GroupsPerRow + k / GroupSize], zeros[(long)row * GroupsPerRow + k / GroupSize]);
                weights[rowStart + order[k]] = scale * (codes[rowStart + k] - zero);
            }
        }
        return weights;
    }

    /// <summary>
    /// Every group's scale and zero, <c>[rows, GroupsPerRow]</c> each, as <see cref="GetScale"/> and <see cref="GetZero"/>
    /// give them (zeros 2^(b−1) when symmetric), decoded in one pass over the stored parts.
    /// </summary>
    internal (float[] Scales, float[] Zeros) DecodeGroupParameters()
    {
        int groupsPerRow = GroupsPerRow;
        long groups = (long)Rows * groupsPerRow;
        var scales = new float[groups];
        var zeros = new float[groups];
        if (ScalePrecision == ScalePrecision.Int6)
        {
            int[] a = BitPacking.Unpack(_scales, Int6Scales.ValueBits, checked((int)groups));
            int[]? c = _zeros is null ? null : BitPacking.Unpack(_zeros, Int6Scales.ValueBits, checked((int)groups));
            for (long i = 0; i < groups; i++)
            {
                long row = i / groupsPerRow;
                float step = StoredFloat.Decode(_steps, row * SuperBlocksPerRow + i % groupsPerRow / Int6Scales.SuperBlockGroups, ScalePrecision.F16);
                scales[i] = step * a[i];
                zeros[i] = c is null ? 1 << (Bits - 1) : Int6Scales.Zero(c[i], Bits);
            }
            return (scales, zeros);
        }
        for (long i = 0; i < groups; i++)
        {
            scales[i] = StoredFloat.Decode(_scales, i, ScalePrecision);
            zeros[i] = _zeros is null ? 1 << (Bits - 1) : StoredFloat.Decode(_zeros, i, ScalePrecision);
        }
        return (scales, zeros);
    }

    /// <summary>The 6-bit scales and zeros and the FP16 steps of float scales and zeros that are exactly so representable.</summary>
    private static (byte[] Scales, byte[]? Zeros, byte[] Steps) EncodeInt6(string name, int rows, int bits, bool symmetric,
        ReadOnlySpan<float> scales, ReadOnlySpan<float> zeros, ReadOnlySpan<float> steps)
    {
        int groupsPerRow = scales.Length / rows, superBlocks = Int6Scales.SuperBlocks(groupsPerRow);
        if (steps.Length != rows * superBlocks)
            throw new ArgumentException($"Tensor '{name}' needs {rows * superBlocks} super-block steps, got {steps.Length}.", nameof(steps));
        var a = new int[scales.Length];
        var c = new int[zeros.Length];
        for (int i = 0; i < scales.Length; i++)
        {
            float step = steps[i / groupsPerRow * superBlocks + i % groupsPerRow / Int6Scales.SuperBlockGroups];
            a[i] = step == 0 ? 0 : (int)Math.Round(scales[i] / (double)step);
            if (!(step >= 0) || (float)(Half)step != step || a[i] is < 0 or > Int6Scales.Largest || step * a[i] != scales[i])
                throw new ArgumentException($"Tensor '{name}': scale {i} ({scales[i]}) is not a multiple 0…63 of its FP16 step {step}.", nameof(scales));
        }
        for (int i = 0; i < zeros.Length; i++)
        {
            c[i] = (int)Math.Round(zeros[i] * (double)Int6Scales.Largest / ((1 << bits) - 1));
            if (c[i] is < 0 or > Int6Scales.Largest || Int6Scales.Zero(c[i], bits) != zeros[i])
                throw new ArgumentException($"Tensor '{name}': zero {i} ({zeros[i]}) is not one of the 64 stored zeros.", nameof(zeros));
        }
        return (BitPacking.Pack(a, Int6Scales.ValueBits), symmetric ? null : BitPacking.Pack(c, Int6Scales.ValueBits), StoredFloat.Encode(steps, ScalePrecision.F16));
    }

    /// <summary>How a quantizer's name mentions the precision of its scales: nothing for FP16 (the default), else e.g. " int6".</summary>
    internal static string PrecisionSuffix(ScalePrecision precision) =>
        precision == ScalePrecision.F16 ? "" : " " + precision.ToString().ToLowerInvariant();

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
