using System.Buffers;
using System.Numerics.Tensors;
using RwkvQuant.Vector;

namespace RwkvQuant.Inference;

/// <summary>
/// y = W·x straight from a <see cref="VectorQuantizedTensor"/>'s packed codes and codebooks. The codebooks (a few
/// kilobytes: 2^b·d floats per group, whatever their storage — int8 + scale, FP16 or SVD factors) are decoded once;
/// each row unpacks its codes, gathers its centroids into a small float buffer and takes one dot product with x.
/// </summary>
internal sealed class VectorQuantizedMatrixProduct : IMatrixVectorProduct
{
    private readonly VectorQuantizedTensor _tensor;
    private readonly VectorLayout _layout;
    private readonly float[] _codebooks; // [groups, 2^b, d]

    /// <summary>Wraps <paramref name="tensor"/>, decoding its codebooks.</summary>
    public VectorQuantizedMatrixProduct(VectorQuantizedTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        _tensor = tensor;
        _layout = tensor.Layout;
        _codebooks = tensor.GetCodebooks();
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
        fixed (float* px = x, py = y)
        {
            var args = (Product: this, X: (nint)px, Y: (nint)py);
            RowParallel.For(Rows, Columns, args, static (a, start, end) =>
                a.Product.MultiplyRows(new ReadOnlySpan<float>((float*)a.X, a.Product.Columns), new Span<float>((float*)a.Y, a.Product.Rows), start, end));
        }
    }

    private void MultiplyRows(ReadOnlySpan<float> x, Span<float> y, int start, int end)
    {
        float[] buffer = ArrayPool<float>.Shared.Rent(Columns);
        int[] codes = ArrayPool<int>.Shared.Rent(_layout.VectorsPerRow);
        try
        {
            Span<float> row = buffer.AsSpan(0, Columns);
            for (int r = start; r < end; r++)
            {
                Gather(r, codes, row);
                y[r] = TensorPrimitives.Dot(row, x);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
            ArrayPool<int>.Shared.Return(codes);
        }
    }

    /// <summary>Row <paramref name="row"/>'s centroids side by side (the row's values, in column order).</summary>
    private void Gather(int row, int[] codeBuffer, Span<float> destination)
    {
        int d = _layout.Dimension, vectors = _layout.VectorsPerRow, length = _layout.CodebookLength;
        int groupColumns = _layout.GroupColumns;
        Span<int> codes = codeBuffer.AsSpan(0, vectors);
        PackedCodes.Read(_tensor.PackedCodes, (long)row * vectors, _layout.Bits, codes);
        ReadOnlySpan<float> books = _codebooks;
        for (int column = 0; column < Columns; column += groupColumns)
        {
            ReadOnlySpan<float> codebook = books.Slice(_layout.GroupOf(row, column) * length, length);
            int end = Math.Min(Columns, column + groupColumns);
            if (d == 1)
            {
                for (int c = column; c < end; c++)
                    destination[c] = codebook[codes[c]];
            }
            else
            {
                for (int c = column; c < end; c += d)
                    codebook.Slice(codes[c / d] * d, d).CopyTo(destination.Slice(c, d));
            }
        }
    }

    /// <inheritdoc />
    public void DecodeRow(int row, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, Rows);
        MatrixShapes.CheckRow(this, destination.Length);
        int[] codes = ArrayPool<int>.Shared.Rent(_layout.VectorsPerRow);
        try
        {
            Gather(row, codes, destination[..Columns]);
        }
        finally
        {
            ArrayPool<int>.Shared.Return(codes);
        }
    }
}
