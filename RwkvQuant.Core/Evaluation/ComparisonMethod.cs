using RwkvQuant.Formats;
using RwkvQuant.Quantization;

namespace RwkvQuant.Evaluation;

/// <summary>One row of a <see cref="QuantizerComparison"/>: a name and a quantizer (scalar or vector).</summary>
internal sealed record ComparisonMethod(string Name, bool RequiresHessian, Func<TensorData, Hessian?, CancellationToken, QuantizedTensor> Quantize)
{
    public static ComparisonMethod Of(IScalarQuantizer quantizer)
    {
        ArgumentNullException.ThrowIfNull(quantizer);
        return new(quantizer.Name, quantizer.RequiresHessian, quantizer.Quantize);
    }

    public static ComparisonMethod Of(IVectorQuantizer quantizer)
    {
        ArgumentNullException.ThrowIfNull(quantizer);
        return new(quantizer.Name, quantizer.RequiresHessian, quantizer.Quantize);
    }
}
