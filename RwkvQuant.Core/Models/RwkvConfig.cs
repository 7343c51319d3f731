namespace RwkvQuant.Models;

/// <summary>Architecture hyper-parameters, inferred from a model's tensors.</summary>
/// <param name="Version">Architecture generation.</param>
/// <param name="LayerCount">Number of blocks.</param>
/// <param name="EmbeddingSize">Width C of the residual stream.</param>
/// <param name="VocabularySize">Rows of <c>emb.weight</c> and of <c>head.weight</c>.</param>
/// <param name="HeadCount">Attention heads H (1 for v4, where the state is per channel).</param>
/// <param name="HeadSize">Channels per head N = C / H (1 for v4).</param>
/// <param name="FeedForwardSize">Hidden width of the channel-mix block.</param>
public sealed record RwkvConfig(
    RwkvVersion Version,
    int LayerCount,
    int EmbeddingSize,
    int VocabularySize,
    int HeadCount,
    int HeadSize,
    int FeedForwardSize);
