using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RwkvQuant.Scalar;

namespace RwkvQuant.Inference;

/// <summary>
/// y = W·x straight from a <see cref="GroupScalarTensor"/>'s packed codes and stored scales and zeros. Per group of
/// columns (storage order), Σ_j s·(q_j − z)·x_j = s·(Σ_j q_j·x_j) − s·z·(Σ_j x_j): the input is put in storage order
/// once per product (act-order's permutation) and its group sums taken once, then each row unpacks its codes into a
/// small float buffer and takes one dot product per group. With AVX2, when every run of 8 codes starts on a byte
/// (columns and group size multiples of 8), the codes are instead widened 8 at a time in registers (variable shifts)
/// and multiplied straight into the accumulator, never touching memory as floats.
/// </summary>
internal sealed class GroupScalarMatrixProduct : IMatrixVectorProduct
{
    private readonly GroupScalarTensor _tensor;
    private readonly int[]? _order;

    private readonly bool _vectorized;

    /// <summary>Wraps <paramref name="tensor"/>; only the column order (act-order) is unpacked.</summary>
    /// <param name="tensor">The quantized weight.</param>
    /// <param name="allowVectorized">False to keep to the portable path (its tests hold the two equal).</param>
    public GroupScalarMatrixProduct(GroupScalarTensor tensor, bool allowVectorized = true)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        _tensor = tensor;
        _order = tensor.HasPermutation ? tensor.GetColumnOrder() : null;
        _vectorized = allowVectorized && Avx2.IsSupported && tensor.Columns % 8 == 0 && tensor.GroupSize % 8 == 0;
    }

    /// <summary>True when the products run the AVX2 path.</summary>
    internal bool IsVectorized => _vectorized;

    /// <inheritdoc />
    public string Name => _tensor.Name;

    /// <inheritdoc />
    public int Rows => _tensor.Rows;

    /// <inheritdoc />
    public int Columns => _tensor.Columns;

    /// <inheritdoc />
    public long WeightBytes => (_tensor.StoredBits + 7) / 8;

    /// <inheritdoc />
    public unsafe void Multiply(ReadOnlySpan<float> x, Span<float> y)
    {
        MatrixShapes.Check(this, x.Length, y.Length);
        int columns = Columns, groupSize = _tensor.GroupSize, groups = _tensor.GroupsPerRow;
        float[] stored = ArrayPool<float>.Shared.Rent(columns + groups);
        try
        {
            // x in storage order, then the sum of each group of it.
            Span<float> xs = stored.AsSpan(0, columns), sums = stored.AsSpan(columns, groups);
            if (_order is null)
                x.CopyTo(xs);
            else
                for (int k = 0; k < columns; k++)
                    xs[k] = x[_order[k]];
            for (int g = 0; g < groups; g++)
            {
                int start = g * groupSize;
                sums[g] = TensorPrimitives.Sum(xs.Slice(start, Math.Min(groupSize, columns - start)));
            }
            fixed (float* py = y)
            {
                var args = (Product: this, Stored: stored, Y: (nint)py);
                RowParallel.For(Rows, columns, args, static (a, start, end) =>
                    a.Product.MultiplyRows(a.Stored, new Span<float>((float*)a.Y, a.Product.Rows), start, end));
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(stored);
        }
    }

    private void MultiplyRows(float[] stored, Span<float> y, int start, int end)
    {
        if (_vectorized)
        {
            MultiplyRowsVectorized(stored, y, start, end);
            return;
        }
        int columns = Columns, groupSize = _tensor.GroupSize, groups = _tensor.GroupsPerRow, bits = _tensor.Bits;
        ReadOnlySpan<float> xs = stored.AsSpan(0, columns), sums = stored.AsSpan(columns, groups);
        ReadOnlySpan<byte> codes = _tensor.PackedCodes;
        float[] buffer = ArrayPool<float>.Shared.Rent(columns);
        try
        {
            Span<float> q = buffer.AsSpan(0, columns);
            for (int r = start; r < end; r++)
            {
                PackedCodes.Read(codes, (long)r * columns, bits, q);
                float acc = 0;
                for (int g = 0; g < groups; g++)
                {
                    int from = g * groupSize, length = Math.Min(groupSize, columns - from);
                    float scale = Scale(r * groups + g), zero = Zero(r * groups + g);
                    float dot = TensorPrimitives.Dot(q.Slice(from, length), xs.Slice(from, length));
                    acc += scale * (dot - zero * sums[g]);
                }
                y[r] = acc;
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// The AVX2 rows: 8 codes of b bits are b whole bytes; codes 0–3 sit in their low 4b bits and codes 4–7 in the next
    /// 4b, so one 64-bit load split in two 32-bit halves, broadcast to four lanes each and shifted right by
    /// (0, b, 2b, 3b), gives the 8 codes after a mask (for b ≤ 4 the 8 codes fit 32 bits: one broadcast, shifts
    /// (0, b, …, 7b), two accumulators). Each group's Σ q·x stays in a vector, scaled into the row's accumulator; the
    /// zero's term s·z·Σx is added as a scalar.
    /// </summary>
    private unsafe void MultiplyRowsVectorized(float[] stored, Span<float> y, int start, int end)
    {
        int columns = Columns, groupSize = _tensor.GroupSize, groups = _tensor.GroupsPerRow, bits = _tensor.Bits;
        ReadOnlySpan<byte> codes = _tensor.PackedCodes;
        Vector256<uint> shifts = Vector256.Create(0u, (uint)bits, 2u * (uint)bits, 3u * (uint)bits, 0u, (uint)bits, 2u * (uint)bits, 3u * (uint)bits);
        Vector256<uint> mask = Vector256.Create((1u << bits) - 1);
        Vector256<uint> narrowShifts = Vector256.Create(0u, 1, 2, 3, 4, 5, 6, 7) * (uint)bits;
        int halfShift = 4 * bits;
        bool narrow = bits <= 4;
        fixed (float* xs = stored)
        fixed (byte* packed = codes)
        {
            byte* streamEnd = packed + codes.Length;
            float* sums = xs + columns;
            for (int r = start; r < end; r++)
            {
                long rowByte = (long)r * columns * bits / 8;
                Vector256<float> row = Vector256<float>.Zero;
                float offset = 0;
                for (int g = 0; g < groups; g++)
                {
                    int from = g * groupSize, length = Math.Min(groupSize, columns - from);
                    Vector256<float> dot = Vector256<float>.Zero;
                    byte* chunk = packed + rowByte + (long)from * bits / 8;
                    if (narrow)
                    {
                        dot = NarrowGroupDot(chunk, xs + from, length, bits, streamEnd, narrowShifts, mask);
                    }
                    else
                    {
                        for (int k = 0; k < length; k += 8, chunk += bits)
                        {
                            ulong word = chunk + 8 <= streamEnd ? *(ulong*)chunk : Tail(chunk, streamEnd);
                            uint low = (uint)word, high = (uint)(word >> halfShift);
                            Vector256<uint> lanes = Vector256.Create(Vector128.Create(low), Vector128.Create(high));
                            Vector256<int> q = (Avx2.ShiftRightLogicalVariable(lanes, shifts) & mask).AsInt32();
                            dot = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(q), Vector256.Load(xs + from + k), dot);
                        }
                    }
                    float scale = Scale(r * groups + g);
                    row = Vector256.FusedMultiplyAdd(dot, Vector256.Create(scale), row);
                    offset += scale * Zero(r * groups + g) * sums[g];
                }
                y[r] = Vector256.Sum(row) - offset;
            }
        }
    }

    /// <summary>
    /// Σ q·x over one group of b ≤ 4-bit codes (all 8 codes of a run lie in its first 32 bits: one broadcast feeds the
    /// 8 lanes), with two accumulators. Its own method so that the loop's vectors stay in registers.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static unsafe Vector256<float> NarrowGroupDot(byte* chunk, float* x, int length, int bits, byte* streamEnd, Vector256<uint> shifts, Vector256<uint> mask)
    {
        Vector256<float> dot0 = Vector256<float>.Zero, dot1 = Vector256<float>.Zero;
        int k = 0;
        for (; k + 16 <= length; k += 16, chunk += 2 * bits)
        {
            Vector256<int> q0 = (Avx2.ShiftRightLogicalVariable(Vector256.Create(Load32(chunk, streamEnd)), shifts) & mask).AsInt32();
            Vector256<int> q1 = (Avx2.ShiftRightLogicalVariable(Vector256.Create(Load32(chunk + bits, streamEnd)), shifts) & mask).AsInt32();
            dot0 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(q0), Vector256.Load(x + k), dot0);
            dot1 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(q1), Vector256.Load(x + k + 8), dot1);
        }
        if (k < length)
        {
            Vector256<int> q = (Avx2.ShiftRightLogicalVariable(Vector256.Create(Load32(chunk, streamEnd)), shifts) & mask).AsInt32();
            dot0 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(q), Vector256.Load(x + k), dot0);
        }
        return dot0 + dot1;
    }

    /// <summary>Stored scale <paramref name="index"/> (row · groups + group), read in its precision.</summary>
    private float Scale(int index) => Read(_tensor.StoredScales, index);

    /// <summary>Stored zero <paramref name="index"/>, or 2^(b−1) when symmetric.</summary>
    private float Zero(int index) => _tensor.Symmetric ? 1 << (_tensor.Bits - 1) : Read(_tensor.StoredZeros, index);

    private float Read(ReadOnlySpan<byte> stored, int index) => _tensor.ScalePrecision switch
    {
        ScalePrecision.F16 => HalfToSingle(MemoryMarshal.Cast<byte, ushort>(stored)[index]),
        ScalePrecision.BF16 => BitConverter.UInt32BitsToSingle((uint)MemoryMarshal.Cast<byte, ushort>(stored)[index] << 16),
        _ => MemoryMarshal.Cast<byte, float>(stored)[index],
    };

    /// <summary>A finite half's value without the general conversion's branches: its magnitude bits moved into a
    /// float32's place and scaled by 2^112 (exact, subnormals included), then its sign.</summary>
    private static float HalfToSingle(ushort bits) =>
        BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(BitConverter.UInt32BitsToSingle((uint)(bits & 0x7FFF) << 13) * 5.192297e33f) | ((uint)(bits & 0x8000) << 16));

    /// <summary>32 bits at <paramref name="chunk"/>, zero-extended past the end of the stream.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe uint Load32(byte* chunk, byte* end) => chunk + 4 <= end ? *(uint*)chunk : (uint)Tail(chunk, end);

    /// <summary>The last bytes of the code stream, zero-extended to 64 bits (a load must not run past the end).</summary>
    private static unsafe ulong Tail(byte* chunk, byte* end)
    {
        ulong word = 0;
        for (int k = 0; chunk + k < end && k < 8; k++)
            word |= (ulong)chunk[k] << (8 * k);
        return word;
    }

    /// <inheritdoc />
    public void DecodeRow(int row, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, Rows);
        MatrixShapes.CheckRow(this, destination.Length);
        int columns = Columns, groupSize = _tensor.GroupSize;
        float[] buffer = ArrayPool<float>.Shared.Rent(columns);
        try
        {
            Span<float> q = buffer.AsSpan(0, columns);
            PackedCodes.Read(_tensor.PackedCodes, (long)row * columns, _tensor.Bits, q);
            for (int g = 0; g < _tensor.GroupsPerRow; g++)
            {
                float scale = _tensor.GetScale(row, g), zero = _tensor.GetZero(row, g);
                int from = g * groupSize, to = Math.Min(columns, from + groupSize);
                for (int k = from; k < to; k++)
                    destination[_order is null ? k : _order[k]] = scale * (q[k] - zero);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }
}
