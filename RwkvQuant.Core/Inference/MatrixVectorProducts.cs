using RwkvQuant.Formats;
using RwkvQuant.Kernels.MatVec;
using RwkvQuant.Kernels.Packed;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar;
using RwkvQuant.Scalar.Ggml;
using RwkvQuant.Scalar.KQuants;
using RwkvQuant.Vector;

namespace RwkvQuant.Inference;

/// <summary>
/// The portable <see cref="IMatrixVectorProductFactory"/>: quantized weights in the kernels' packed layouts, multiplied
/// by RwkvQuant.Kernels' row-decoding product (<see cref="RowDecodeMatVec"/>: each row decoded to float32, SIMD dot
/// products), and kept matrices from their stored bytes (<see cref="DenseMatrixProduct"/>). It is what
/// <see cref="FusedMatrixVectorProducts"/> falls back to where no lookup kernel takes a layout.
/// </summary>
internal sealed class MatrixVectorProducts : IMatrixVectorProductFactory
{
    /// <summary>The single instance.</summary>
    public static MatrixVectorProducts Default { get; } = new();

    private MatrixVectorProducts()
    {
    }

    /// <inheritdoc />
    /// <exception cref="NotSupportedException">The tensor's scheme has no matrix-vector product.</exception>
    public IMatrixVectorProduct Create(QuantizedTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        return tensor switch
        {
            GroupScalarTensor scalar => new PackedMatrixProduct<PackedGroupScalar>(scalar, PackedLayouts.ToPacked(scalar),
                static (w, x, y, n) => RowDecodeMatVec.MatVec(w, x, y, n), PackedReference.DecodeRow),
            VectorQuantizedTensor vector => new PackedMatrixProduct<PackedVectorCodes>(vector, PackedLayouts.ToPacked(vector),
                static (w, x, y, n) => RowDecodeMatVec.MatVec(w, x, y, n), PackedReference.DecodeRow),
            // Blocks that straddle rows (columns not a multiple of 32) come from no ggml file or quantizer, only from a
            // hand-built tensor: they are multiplied as the float32 matrix they decode to.
            GgmlBlockTensor blocks when blocks.Columns % PackedGgmlBlocks.BlockSize != 0 =>
                new DenseMatrixProduct(TensorData.FromFloats(blocks.Name, [blocks.Rows, blocks.Columns], blocks.Dequantize())),
            GgmlBlockTensor blocks => new PackedMatrixProduct<PackedGgmlBlocks>(blocks, PackedLayouts.ToPacked(blocks),
                static (w, x, y, n) => RowDecodeMatVec.MatVec(w, x, y, n), PackedReference.DecodeRow),
            KQuantTensor kquant => new PackedMatrixProduct<PackedKQuantBlocks>(kquant, kquant.ToPacked(),
                static (w, x, y, n) => RowDecodeMatVec.MatVec(w, x, y, n), PackedReference.DecodeRow),
            _ => throw new NotSupportedException($"Tensor '{tensor.Name}' ({tensor.Scheme}, {tensor.GetType().Name}) has no matrix-vector product."),
        };
    }

    /// <inheritdoc />
    public IMatrixVectorProduct Create(TensorData matrix)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        return new DenseMatrixProduct(matrix.Type is TensorDataType.F32 or TensorDataType.F16 or TensorDataType.BF16 ? matrix.InMemory() : matrix.ToFloat32());
    }
}
