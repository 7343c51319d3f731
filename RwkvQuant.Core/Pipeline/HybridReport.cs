using RwkvQuant.Proxy;

namespace RwkvQuant.Pipeline;

/// <summary>What a tensor is, as far as the hybrid pipeline is concerned.</summary>
public enum HybridTensorKind
{
    /// <summary>A 2-D weight inside a block (projections and LoRA matrices): quantized by SQ or VQ.</summary>
    Matrix,

    /// <summary>An element-wise multiplication vector μ (y = x ⊙ μ): quantized by the codebook optimizer, or kept.</summary>
    MultiplicationVector,

    /// <summary>Any other tensor (embedding, head, norms, decays…): kept in full precision.</summary>
    Kept,
}

/// <summary>How the hybrid pipeline stored a tensor.</summary>
public enum HybridMethod
{
    /// <summary>Scalar quantization (the pipeline's <see cref="Quantization.IScalarQuantizer"/>).</summary>
    Scalar,

    /// <summary>Vector quantization (the pipeline's <see cref="Quantization.IVectorQuantizer"/>).</summary>
    Vector,

    /// <summary>Per-group codebooks (the pipeline's <see cref="Codebooks.ICodebookOptimizer"/>).</summary>
    Codebook,

    /// <summary>Kept in full precision (F16 for the embedding and head, F32 otherwise).</summary>
    Kept,
}

/// <summary>One tensor of a <see cref="HybridQuantizationResult"/>.</summary>
/// <param name="Name">Canonical tensor name.</param>
/// <param name="Kind">Matrix, multiplication vector or other.</param>
/// <param name="CoarseProxy">P_c when the selector is proxy-based (<see cref="ThresholdSelector"/>) and the tensor is a matrix; else null.</param>
/// <param name="FineProxy">P_f likewise; else null.</param>
/// <param name="Method">How it was stored.</param>
/// <param name="Scheme">The stored scheme (e.g. <c>"gptq a3 g64 f16"</c>) or full-precision type (<c>"f16"</c>, <c>"f32"</c>).</param>
/// <param name="Parameters">Number of weights.</param>
/// <param name="StoredBits">Every stored bit.</param>
/// <param name="RelativeError">Matrices: tr((W−Q)H(W−Q)ᵀ) / tr(WHWᵀ) with the block's calibration Hessian; quantized
/// vectors: Σ s_j(μ_j−μ̂_j)² / Σ s_j μ_j² with the channel importances; null for tensors kept in full precision.</param>
public sealed record HybridTensorReport(string Name, HybridTensorKind Kind, double? CoarseProxy, double? FineProxy,
    HybridMethod Method, string Scheme, long Parameters, long StoredBits, double? RelativeError)
{
    /// <summary>Stored bits per weight.</summary>
    public double BitsPerWeight => Parameters == 0 ? 0 : (double)StoredBits / Parameters;
}

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

/// <summary>Progress of <see cref="HybridQuantizer.QuantizeAsync"/>: reported when a block's calibration pass starts
/// (<see cref="TensorName"/> null) and after each tensor is quantized.</summary>
/// <param name="Block">The block being processed (0-based).</param>
/// <param name="BlockCount">Number of blocks.</param>
/// <param name="TensorsDone">Tensors quantized so far.</param>
/// <param name="TensorCount">Tensors to quantize in all.</param>
/// <param name="TensorName">The tensor just quantized, or null at the start of a block's calibration pass.</param>
public readonly record struct HybridProgress(int Block, int BlockCount, int TensorsDone, int TensorCount, string? TensorName);
