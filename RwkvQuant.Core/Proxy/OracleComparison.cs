using RwkvQuant.Quantization;

namespace RwkvQuant.Proxy;

/// <summary>
/// Both quantizations of one weight and their Hessian-weighted errors tr((W − Q) H (W − Q)ᵀ), as compared by the
/// <see cref="OracleSelector"/>.
/// </summary>
/// <param name="Scalar">The scalar quantizer's result.</param>
/// <param name="Vector">The vector quantizer's result.</param>
/// <param name="ScalarError">Weighted error of <paramref name="Scalar"/>.</param>
/// <param name="VectorError">Weighted error of <paramref name="Vector"/>.</param>
public sealed record OracleComparison(QuantizedTensor Scalar, QuantizedTensor Vector, double ScalarError, double VectorError)
{
    /// <summary>The method with the lower error; SQ on a tie.</summary>
    public QuantizationChoice Choice => VectorError < ScalarError ? QuantizationChoice.Vector : QuantizationChoice.Scalar;

    /// <summary>The chosen quantization.</summary>
    public QuantizedTensor Chosen => Choice == QuantizationChoice.Scalar ? Scalar : Vector;
}
