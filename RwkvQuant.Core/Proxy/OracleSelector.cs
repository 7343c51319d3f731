using RwkvQuant.Formats;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar;

namespace RwkvQuant.Proxy;

/// <summary>
/// The "oracle" baseline of the proxy ablation: quantizes the weight both ways and keeps the method with the lower
/// Hessian-weighted error tr((W − Q) H (W − Q)ᵀ) (SQ on a tie). Without a Hessian it compares the plain squared error
/// Σ (W − Q)² (H = 2·I, the same ranking). It costs two full quantizations per matrix; <see cref="Compare"/> returns
/// both results so a caller need not quantize again. Bits per weight are not part of the comparison.
/// </summary>
public sealed class OracleSelector : IQuantizationSelector
{
    /// <summary>Creates the oracle over the two quantizers it compares.</summary>
    public OracleSelector(IScalarQuantizer scalar, IVectorQuantizer vector)
    {
        ArgumentNullException.ThrowIfNull(scalar);
        ArgumentNullException.ThrowIfNull(vector);
        ScalarQuantizer = scalar;
        VectorQuantizer = vector;
    }

    /// <summary>The scalar quantizer.</summary>
    public IScalarQuantizer ScalarQuantizer { get; }

    /// <summary>The vector quantizer.</summary>
    public IVectorQuantizer VectorQuantizer { get; }

    /// <inheritdoc />
    public string Name => $"oracle ({ScalarQuantizer.Name} | {VectorQuantizer.Name})";

    /// <inheritdoc />
    /// <remarks>The selection carries the chosen result and its quantizer, so a pipeline over the same two quantizers
    /// does not quantize the weight a third time.</remarks>
    public QuantizationSelection Choose(TensorData weight, Hessian? hessian = null, CancellationToken cancellationToken = default)
    {
        OracleComparison comparison = Compare(weight, hessian, cancellationToken);
        return new QuantizationSelection(comparison.Choice)
        {
            Tensor = comparison.Chosen,
            QuantizedWith = comparison.Choice == QuantizationChoice.Scalar ? ScalarQuantizer : VectorQuantizer,
        };
    }

    /// <summary>Quantizes <paramref name="weight"/> <c>[rows, columns]</c> both ways and measures both errors.</summary>
    /// <exception cref="ArgumentException">The weight is not a non-empty finite 2-D floating-point tensor, the Hessian is
    /// not <c>[columns, columns]</c>, or a quantizer rejects the input (e.g. needs a Hessian that is missing).</exception>
    public OracleComparison Compare(TensorData weight, Hessian? hessian = null, CancellationToken cancellationToken = default)
    {
        WeightMatrix w = WeightMatrix.Read(weight);
        if (hessian is not null && hessian.Size != w.Columns)
            throw new ArgumentException($"Tensor '{w.Name}' has {w.Columns} columns but the Hessian is {hessian.Size}×{hessian.Size}.", nameof(hessian));
        Hessian h = hessian ?? Hessian.Identity(w.Columns);
        QuantizedTensor scalar = ScalarQuantizer.Quantize(weight, hessian, cancellationToken);
        cancellationToken.ThrowIfCancellationRequested();
        QuantizedTensor vector = VectorQuantizer.Quantize(weight, hessian, cancellationToken);
        cancellationToken.ThrowIfCancellationRequested();
        return new OracleComparison(scalar, vector, h.WeightedError(w.Values, scalar.Dequantize()), h.WeightedError(w.Values, vector.Dequantize()));
    }
}
