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

    /// <summary>The working buffers of a run of <paramref name="tokens"/> tokens, one set per state.</summary>
    public abstract StepBuffers CreateScratch(int tokens);

    /// <summary>
    /// Feeds <paramref name="tokens"/> in order (a prompt, or one token): advances <paramref name="state"/> and writes the
    /// logits after the last token <c>[V]</c>. Every matrix multiplies all the tokens at once (each product reads its
    /// weight once for the run, not once per token); only the time mix's recurrence (WKV) goes token by token, and only
    /// the last token goes through the head. The state's buffers are re-made for the run's length when it changes.
    /// </summary>
    public void Run(ReadOnlySpan<int> tokens, RwkvEngineState state, Span<float> logits)
    {
        int c = Config.EmbeddingSize, count = tokens.Length;
        if (((StepBuffers)state.Scratch).Tokens != count)
            state.Scratch = CreateScratch(count);
        Span<float> x = ((StepBuffers)state.Scratch).Residual;
        for (int t = 0; t < count; t++)
            _embedding.DecodeRow(tokens[t], x.Slice(t * c, c));
        EngineMath.LayerNormPerToken(x, _ln0Weight, _ln0Bias, x);
        for (int layer = 0; layer < Config.LayerCount; layer++)
            Block(layer, x, count, state);
        Span<float> last = x.Slice((count - 1) * c, c);
        EngineMath.LayerNorm(last, _lnOutWeight, _lnOutBias, last);
        _head.Multiply(last, logits);
    }

    /// <summary>
    /// Block <paramref name="layer"/> on the residual stream <paramref name="x"/> <c>[T, C]</c> of a run of
    /// <paramref name="tokens"/> tokens (updated in place), in the state's buffers made for that run.
    /// </summary>
    protected abstract void Block(int layer, Span<float> x, int tokens, RwkvEngineState state);

    /// <summary>Working buffers of a run of tokens; versions derive their own, each <c>[T, width]</c>.</summary>
    internal class StepBuffers(int width, int tokens)
    {
        /// <summary>Tokens the buffers are made for.</summary>
        public int Tokens { get; } = tokens;

        /// <summary>The residual stream x <c>[T, C]</c>.</summary>
        public float[] Residual { get; } = new float[tokens * width];
    }
}
