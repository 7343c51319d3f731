using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
namespace RwkvQuant.Pipeline;

/// <summary>What <see cref="HybridQuantizer.QuantizeAsync"/> produced: the quantized model and a report per tensor.</summary>
public sealed class HybridQuantizationResult
{
    internal HybridQuantizationResult(QuantizedModel model, IReadOnlyList<HybridTensorReport> tensors, string selector, IReadOnlyList<PhaseCost> phases)
    {
        Model = model;
        Tensors = tensors;
        Selector = selector;
        Phases = phases;
    }

    /// <summary>What each phase of the run cost (wall and CPU time, peak resident memory), in <see cref="QuantizationPhase"/>
    /// order; their wall times add up to the run's (within milliseconds).</summary>
    public IReadOnlyList<PhaseCost> Phases { get; }

    /// <summary>The quantized model.</summary>
    public QuantizedModel Model { get; }

    /// <summary>Every tensor of the model: block by block in the order they were quantized, then the kept tensors by name.</summary>
    public IReadOnlyList<HybridTensorReport> Tensors { get; }

    /// <summary>The selector's name.</summary>
    public string Selector { get; }

    /// <summary>Bits per weight over the quantized tensors (<see cref="QuantizedModel.QuantizedBitsPerWeight"/>).</summary>
    public double QuantizedBitsPerWeight => Model.QuantizedBitsPerWeight;

    /// <summary>Bits per weight over the whole model (<see cref="QuantizedModel.BitsPerWeight"/>).</summary>
    public double BitsPerWeight => Model.BitsPerWeight;

    /// <summary>Share of the matrices sent to scalar quantization, by count (0 when there is none).</summary>
    public double ScalarFractionByCount
    {
        get
        {
            var matrices = Tensors.Where(t => t.Kind == HybridTensorKind.Matrix).ToList();
            return matrices.Count == 0 ? 0 : (double)matrices.Count(t => t.Method == HybridMethod.Scalar) / matrices.Count;
        }
    }

    /// <summary>Share of the matrices' parameters sent to scalar quantization (0 when there is none).</summary>
    public double ScalarFractionByParameters
    {
        get
        {
            long total = Tensors.Where(t => t.Kind == HybridTensorKind.Matrix).Sum(t => t.Parameters);
            return total == 0 ? 0 : (double)Tensors.Where(t => t.Kind == HybridTensorKind.Matrix && t.Method == HybridMethod.Scalar).Sum(t => t.Parameters) / total;
        }
    }
}
