namespace RwkvQuant.Proxy;

/// <summary>Which neighbour gaps of the sorted weights the coarse-to-fine proxy uses.</summary>
public enum GapMode
{
    /// <summary>
    /// The paper-compatible mode: round the weights to FP16, sort, and keep only the distinct non-zero gap values
    /// (n = their count, hundreds to a few thousand). The published thresholds τ_c = 1.54, τ_f = 30 assume this mode.
    /// </summary>
    PaperFp16UniqueGaps,

    /// <summary>All N − 1 gaps of the sorted float32 weights, zero gaps included (n = N − 1).</summary>
    Raw,
}
