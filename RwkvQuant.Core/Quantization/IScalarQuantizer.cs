using RwkvQuant.Formats;

namespace RwkvQuant.Quantization;

/// <summary>
/// Quantizes a 2-D weight one value at a time onto a per-group grid (round-to-nearest, ggml block formats, GPTQ).
/// Implementations are stateless and thread-safe; options are fixed at construction.
/// </summary>
public interface IScalarQuantizer
{
    /// <summary>A short name for reports, e.g. <c>"gptq a3 g64"</c>.</summary>
    string Name { get; }

    /// <summary>True when <see cref="Quantize"/> needs a <see cref="Hessian"/> (GPTQ); false when it ignores it.</summary>
    bool RequiresHessian { get; }

    /// <summary>
    /// Quantizes <paramref name="weight"/> <c>[rows, columns]</c>. <paramref name="hessian"/> is H = (2/N)·Σ x xᵀ
    /// over the layer's calibration inputs x <c>[columns]</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The weight is not 2-D float, its shape does not suit the options, it holds
    /// NaN or infinity, or a required Hessian is missing or of the wrong size.</exception>
    QuantizedTensor Quantize(TensorData weight, Hessian? hessian = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// The exact <see cref="QuantizedTensor.StoredBits"/> that <see cref="Quantize"/> stores for a <c>[rows, columns]</c>
    /// weight, from the shape alone (for planning a bit budget before quantizing).
    /// </summary>
    /// <exception cref="ArgumentException">The options cannot quantize a weight of that shape.</exception>
    long StoredBitsFor(int rows, int columns);
}
