using RwkvQuant.Models;

namespace RwkvQuant.Inference;

/// <summary>
/// One RWKV version's token step on plain float arrays: the embedding row, <c>ln0</c>, the blocks (the version's
/// <see cref="Block"/>), <c>ln_out</c> and the head.
/// </summary>
internal abstract class RecurrentNetwork
{
    private readonly IMatrixVectorProduct _embedding, _head;
    private readonly float[] _ln0Weight, _ln0Bias, _lnOutWeight, _lnOutBias;

    protected RecurrentNetwork(EngineWeights weights)
    {
        Config = weights.Config;
        int c = Config.EmbeddingSize, vocabulary = Config.VocabularySize;
        _embedding = weights.Embedding(vocabulary, c);
        _ln0Weight = weights.Vector("blocks.0.ln0.weight", c);
        _ln0Bias = weights.Vector("blocks.0.ln0.bias", c);
        _lnOutWeight = weights.Vector("ln_out.weight", c);
        _lnOutBias = weights.Vector("ln_out.bias", c);
        _head = weights.Matrix("head.weight", LinearLayout.OutIn, vocabulary, c);
    }

    public RwkvConfig Config { get; }

    /// <summary>The step's working buffers, one set per state.</summary>
    public abstract StepBuffers CreateScratch();

    /// <summary>Feeds <paramref name="token"/>: advances <paramref name="state"/> and writes the logits <c>[V]</c>.</summary>
    public void Step(int token, RwkvEngineState state, Span<float> logits)
    {
        int c = Config.EmbeddingSize;
        Span<float> x = ((StepBuffers)state.Scratch).Residual.AsSpan(0, c);
        _embedding.DecodeRow(token, x);
        EngineMath.LayerNorm(x, _ln0Weight, _ln0Bias, x);
        for (int layer = 0; layer < Config.LayerCount; layer++)
            Block(layer, x, state);
        EngineMath.LayerNorm(x, _lnOutWeight, _lnOutBias, x);
        _head.Multiply(x, logits);
    }

    /// <summary>Block <paramref name="layer"/> on the residual stream <paramref name="x"/> <c>[C]</c> (updated in place).</summary>
    protected abstract void Block(int layer, Span<float> x, RwkvEngineState state);

    /// <summary>Working buffers of one step; versions derive their own.</summary>
    internal class StepBuffers(int width)
    {
        /// <summary>The residual stream x <c>[C]</c>.</summary>
        public float[] Residual { get; } = new float[width];
    }
}
