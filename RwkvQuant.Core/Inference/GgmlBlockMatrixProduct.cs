using System.Buffers;
using System.Numerics.Tensors;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Scalar.Ggml;

namespace RwkvQuant.Inference;

/// <summary>
/// y = W·x straight from a <see cref="GgmlBlockTensor"/>'s blocks (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0): each row's blocks of
/// 32 values are dequantized into a small float buffer with ggml's reference block decoding and dotted with x.
/// </summary>
internal sealed class GgmlBlockMatrixProduct : IRowRangeProduct
{
    private const int Block = GgmlTypes.BlockSize;

    private readonly GgmlBlockTensor _tensor;
    private readonly int _blockBytes;

    /// <summary>Wraps <paramref name="tensor"/>.</summary>
    public GgmlBlockMatrixProduct(GgmlBlockTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        _tensor = tensor;
        _blockBytes = tensor.Type.BytesPerBlock();
    }

    /// <inheritdoc />
    public string Name => _tensor.Name;

    /// <inheritdoc />
    public int Rows => _tensor.Rows;

    /// <inheritdoc />
    public int Columns => _tensor.Columns;

    /// <inheritdoc />
    public long WeightBytes => _tensor.Blocks.Length;

    /// <inheritdoc />
    public void Multiply(ReadOnlySpan<float> x, Span<float> y) => RowParallel.Multiply(this, x, y);

    /// <inheritdoc />
    public void MultiplyRows(ReadOnlySpan<float> x, Span<float> y, int start, int end)
    {
        float[] buffer = ArrayPool<float>.Shared.Rent(Columns + 2 * Block);
        try
        {
            for (int r = start; r < end; r++)
                y[r] = TensorPrimitives.Dot(Decode(r, buffer), x);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }

    /// <summary>Row <paramref name="row"/>'s values: the blocks that cover it (a block may straddle two rows when the
    /// column count is not a multiple of 32), decoded into <paramref name="buffer"/>.</summary>
    private ReadOnlySpan<float> Decode(int row, float[] buffer)
    {
        long first = (long)row * Columns, last = first + Columns - 1;
        long firstBlock = first / Block, blocks = last / Block - firstBlock + 1;
        Span<float> values = buffer.AsSpan(0, checked((int)(blocks * Block)));
        GgmlBlocks.Dequantize(_tensor.Type, _tensor.Blocks.Slice(checked((int)(firstBlock * _blockBytes)), checked((int)(blocks * _blockBytes))), values);
        return values.Slice((int)(first - firstBlock * Block), Columns);
    }

    /// <inheritdoc />
    public void DecodeRow(int row, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, Rows);
        MatrixShapes.CheckRow(this, destination.Length);
        float[] buffer = ArrayPool<float>.Shared.Rent(Columns + 2 * Block);
        try
        {
            Decode(row, buffer).CopyTo(destination);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }
}
