using System.Buffers;
using System.Numerics.Tensors;
using RwkvQuant.Scalar;

namespace RwkvQuant.Inference;

/// <summary>
/// y = W·x straight from a <see cref="GroupScalarTensor"/>'s packed codes and stored scales and zeros. Per group of
/// columns (storage order), Σ_j s·(q_j − z)·x_j = s·(Σ_j q_j·x_j) − s·z·(Σ_j x_j): the input is put in storage order
/// once per product (act-order's permutation) and its group sums taken once, then each row unpacks its codes into a
/// small float buffer and takes one dot product per group.
/// </summary>
internal sealed class GroupScalarMatrixProduct : IMatrixVectorProduct
{
    private readonly GroupScalarTensor _tensor;
    private readonly int[]? _order;

    /// <summary>Wraps <paramref name="tensor"/>; only the column order (act-order) is unpacked.</summary>
    public GroupScalarMatrixProduct(GroupScalarTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        _tensor = tensor;
        _order = tensor.HasPermutation ? tensor.GetColumnOrder() : null;
    }

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
                    float scale = _tensor.GetScale(r, g), zero = _tensor.GetZero(r, g);
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
