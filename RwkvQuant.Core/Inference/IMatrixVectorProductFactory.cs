using RwkvQuant.Formats;
using RwkvQuant.Quantization;

namespace RwkvQuant.Inference;

/// <summary>
/// Chooses the <see cref="IMatrixVectorProduct"/> of each weight the engine multiplies with: the seam through which
/// faster kernels (packed layouts with fused dequantize × vector) replace the default implementations per tensor.
/// A factory that does not handle a tensor should hand it to <see cref="MatrixVectorProducts.Default"/>.
/// </summary>
internal interface IMatrixVectorProductFactory
{
    /// <summary>The product of a quantized weight <c>[Rows, Columns]</c>.</summary>
    IMatrixVectorProduct Create(QuantizedTensor tensor);

    /// <summary>The product of a full-precision matrix already in <c>[out, in]</c> order (F32, F16 or BF16).</summary>
    IMatrixVectorProduct Create(TensorData matrix);
}
