using RwkvQuant.Formats;
using RwkvQuant.Quantization;

namespace RwkvQuant.Proxy;

/// <summary>
/// A selector that makes the same choice for every weight: a pipeline of one method (GPTQ only, GPTVQ only, a ggml or
/// k-quant format), with the hybrid pipeline's sequential calibration. Ignores the Hessian and scores nothing.
/// </summary>
public sealed class FixedSelector : IQuantizationSelector
{
    /// <summary>Every weight to <paramref name="choice"/>.</summary>
    public FixedSelector(QuantizationChoice choice)
    {
        if (!Enum.IsDefined(choice))
            throw new ArgumentOutOfRangeException(nameof(choice), choice, "Scalar or Vector.");
        Choice = choice;
    }

    /// <summary>Every weight to scalar quantization.</summary>
    public static FixedSelector Scalar { get; } = new(QuantizationChoice.Scalar);

    /// <summary>Every weight to vector quantization.</summary>
    public static FixedSelector Vector { get; } = new(QuantizationChoice.Vector);

    /// <summary>The choice made for every weight.</summary>
    public QuantizationChoice Choice { get; }

    /// <inheritdoc />
    public string Name => Choice == QuantizationChoice.Scalar ? "all SQ" : "all VQ";

    /// <inheritdoc />
    public QuantizationSelection Choose(TensorData weight, Hessian? hessian = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(weight);
        cancellationToken.ThrowIfCancellationRequested();
        return new QuantizationSelection(Choice);
    }
}
