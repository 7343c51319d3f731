using RwkvQuant.Quantization;

namespace RwkvQuant.Inference;

/// <summary>The product of a packed layout and <c>vectors</c> vectors (x <c>[vectors, Columns]</c>, y <c>[vectors, Rows]</c>).</summary>
internal delegate void PackedMultiply<in TPacked>(TPacked weights, ReadOnlySpan<float> x, Span<float> y, int vectors);

/// <summary>One row of a packed layout, decoded to float32 in the original column order.</summary>
internal delegate void PackedDecodeRow<in TPacked>(TPacked weights, int row, Span<float> destination);

/// <summary>
/// A quantized weight in one of RwkvQuant.Kernels' packed layouts, multiplied by one of the kernels' products (a lookup
/// kernel, or the portable row-decoding product) and its rows decoded by the layout's reference decoder (an embedding
/// lookup). Only the packed layout is held, never the tensor's own codes beside their re-laid copy.
/// </summary>
internal sealed class PackedMatrixProduct<TPacked>(QuantizedTensor tensor, TPacked packed, PackedMultiply<TPacked> multiply,
    PackedDecodeRow<TPacked> decodeRow) : IMatrixVectorProduct
{
    /// <inheritdoc />
    public string Name { get; } = tensor.Name;

    /// <inheritdoc />
    public int Rows { get; } = tensor.Rows;

    /// <inheritdoc />
    public int Columns { get; } = tensor.Columns;

    /// <inheritdoc />
    public long WeightBytes { get; } = (tensor.StoredBits + 7) / 8;

    /// <inheritdoc />
    public void Multiply(ReadOnlySpan<float> x, Span<float> y)
    {
        MatrixShapes.Check(this, x.Length, y.Length);
        multiply(packed, x, y, 1);
    }

    /// <inheritdoc />
    public void Multiply(ReadOnlySpan<float> x, Span<float> y, int vectors)
    {
        MatrixShapes.Check(this, x.Length, y.Length, vectors);
        multiply(packed, x, y, vectors);
    }

    /// <inheritdoc />
    public void DecodeRow(int row, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, Rows);
        MatrixShapes.CheckRow(this, destination.Length);
        decodeRow(packed, row, destination);
    }
}
