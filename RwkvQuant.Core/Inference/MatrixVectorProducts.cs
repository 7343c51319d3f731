using RwkvQuant.Formats;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar;
using RwkvQuant.Scalar.Ggml;
using RwkvQuant.Vector;

namespace RwkvQuant.Inference;

/// <summary>
/// The default <see cref="IMatrixVectorProductFactory"/>: managed implementations that read the stored bytes of each
/// scheme (<see cref="GroupScalarMatrixProduct"/>, <see cref="VectorQuantizedMatrixProduct"/>,
/// <see cref="GgmlBlockMatrixProduct"/>, <see cref="DenseMatrixProduct"/>). They are the working default and the
/// reference twins that faster kernels are held equal to.
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
            GroupScalarTensor scalar => new GroupScalarMatrixProduct(scalar),
            VectorQuantizedTensor vector => new VectorQuantizedMatrixProduct(vector),
            GgmlBlockTensor blocks => new GgmlBlockMatrixProduct(blocks),
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
