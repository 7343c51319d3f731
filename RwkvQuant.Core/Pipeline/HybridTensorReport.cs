using RwkvQuant.Proxy;

namespace RwkvQuant.Pipeline;

/// <summary>One tensor of a <see cref="HybridQuantizationResult"/>.</summary>
/// <param name="Name">Canonical tensor name.</param>
/// <param name="Kind">Matrix, multiplication vector or other.</param>
/// <param name="CoarseProxy">P_c when the selector scored the matrix (<see cref="QuantizationSelection.Score"/>: <see cref="ThresholdSelector"/>, or a selector of your own); else null.</param>
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
