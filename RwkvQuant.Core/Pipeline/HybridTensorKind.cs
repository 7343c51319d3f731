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

    /// <summary>The embedding or the head, quantized from its weights alone (<see cref="HybridQuantizerBuilder.UseForEmbedding"/>,
    /// <see cref="HybridQuantizerBuilder.UseForHead"/>).</summary>
    EmbeddingOrHead,
}
