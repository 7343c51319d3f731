using RwkvQuant.Formats;

namespace RwkvQuant.Quantization;

/// <summary>
/// A scalar quantizer that weights its rounding by per-column importances alone — the diagonal of the Hessian,
/// E[x_j²], llama.cpp's importance matrix — so it can run from a stored <see cref="Calibration.ImportanceMatrix"/>
/// without the full Hessian or a calibration pass (the k-quants and IQ formats with <c>--imatrix</c>).
/// </summary>
public interface IImportanceQuantizer : IScalarQuantizer
{
    /// <summary>
    /// Quantizes <paramref name="weight"/> <c>[rows, columns]</c> with the column importances
    /// <paramref name="importance"/> <c>[columns]</c> (E[x_j²] over the calibration inputs; H_jj / 2).
    /// </summary>
    /// <exception cref="ArgumentException">As <see cref="IScalarQuantizer.Quantize"/>; or the importances are not
    /// <c>columns</c> finite, non-negative values.</exception>
    QuantizedTensor Quantize(TensorData weight, ReadOnlySpan<float> importance, CancellationToken cancellationToken = default);
}
