namespace RwkvQuant.Pipeline;

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
