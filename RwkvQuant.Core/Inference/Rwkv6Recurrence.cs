using System.Numerics.Tensors;
using RwkvQuant.Kernels.Wkv;
using RwkvQuant.Models;

namespace RwkvQuant.Inference;

/// <summary>
/// RWKV-6's token step on float arrays, the same function as <c>Rwkv6Network</c> in recurrent mode: the data-dependent
/// token shift (<c>time_maa_w1</c> down, the five stacked <c>time_maa_w2</c> slices up), r/k/v/gate projections, the
/// decay LoRA, WKV with the bonus u (<see cref="Wkv6Cpu"/>), per-head GroupNorm times silu(g), then the channel mix
/// σ(r) ⊙ (relu(k)²·Wvᵀ).
/// </summary>
internal sealed class Rwkv6Recurrence : RecurrentNetwork
{
    /// <summary>The five data-dependent shifts m_w, m_k, m_v, m_r, m_g share one LoRA.</summary>
    private const int Shifts = 5;

    private readonly Layer[] _layers;
    private readonly WkvShape _wkvShape;
    private readonly int _maxHidden;

    public Rwkv6Recurrence(EngineWeights weights) : base(weights)
    {
        int c = Config.EmbeddingSize, f = Config.FeedForwardSize;
        _wkvShape = new WkvShape(1, Config.HeadCount, Config.HeadSize); // one step; a run takes WithSteps(T)
        _layers = new Layer[Config.LayerCount];
        for (int i = 0; i < _layers.Length; i++)
        {
            string p = $"blocks.{i}.";
            float[] V(string name) => weights.Vector(p + name, c);
            IMatrixVectorProduct Projection(string name, int rows, int columns) => weights.Matrix(p + name, LinearLayout.OutIn, rows, columns);
            IMatrixVectorProduct maaW1 = weights.Matrix(p + "att.time_maa_w1", LinearLayout.InOut, null, c);  // [5D, C]
            if (maaW1.Rows % Shifts != 0)
                throw new InvalidDataException($"Tensor '{p}att.time_maa_w1' has {maaW1.Rows} outputs, not {Shifts} equal LoRA slices.");
            IMatrixVectorProduct decayW1 = weights.Matrix(p + "att.time_decay_w1", LinearLayout.InOut, null, c); // [D_w, C]
            _layers[i] = new Layer
            {
                Ln1Weight = V("ln1.weight"), Ln1Bias = V("ln1.bias"), Ln2Weight = V("ln2.weight"), Ln2Bias = V("ln2.bias"),
                MaaX = V("att.time_maa_x"), MaaW = V("att.time_maa_w"), MaaK = V("att.time_maa_k"),
                MaaV = V("att.time_maa_v"), MaaR = V("att.time_maa_r"), MaaG = V("att.time_maa_g"),
                MaaW1 = maaW1,
                MaaW2 = weights.Matrix(p + "att.time_maa_w2", LinearLayout.StackedInOut, c, maaW1.Rows, Shifts), // [C, 5D]
                Decay = V("att.time_decay"), DecayW1 = decayW1,
                DecayW2 = weights.Matrix(p + "att.time_decay_w2", LinearLayout.InOut, c, decayW1.Rows),
                Bonus = V("att.time_faaaa"),
                Receptance = Projection("att.receptance.weight", c, c), Key = Projection("att.key.weight", c, c),
                Value = Projection("att.value.weight", c, c), Gate = Projection("att.gate.weight", c, c),
                Output = Projection("att.output.weight", c, c),
                LnXWeight = V("att.ln_x.weight"), LnXBias = V("att.ln_x.bias"),
                FfnMaaK = V("ffn.time_maa_k"), FfnMaaR = V("ffn.time_maa_r"),
                FfnKey = Projection("ffn.key.weight", f, c), FfnReceptance = Projection("ffn.receptance.weight", c, c),
                FfnValue = Projection("ffn.value.weight", c, f),
            };
            _maxHidden = Math.Max(_maxHidden, Math.Max(maaW1.Rows, decayW1.Rows));
        }
    }

    public override StepBuffers CreateScratch(int tokens) => new Buffers(Config.EmbeddingSize, Config.FeedForwardSize, _maxHidden, tokens);

    protected override void Block(int layer, Span<float> x, int tokens, RwkvEngineState state)
    {
        Layer l = _layers[layer];
        var s = (Buffers)state.Scratch;

        // Time mix on xa = ln1(x); dx = x_{t−1} − x_t.
        EngineMath.LayerNormPerToken(x, l.Ln1Weight, l.Ln1Bias, s.Normed);
        EngineMath.TokenShift(state.AttentionShift[layer], s.Normed, s.Dx);

        // Data-dependent token shift: h = tanh(W1·(x + dx ⊙ μ_x)), m_i = W2[i]·h_i, x_i = x + dx ⊙ (μ_i + m_i).
        EngineMath.MixPerToken(s.Normed, s.Dx, l.MaaX, s.Temp);
        Span<float> hidden = s.Hidden.AsSpan(0, tokens * l.MaaW1.Rows);
        l.MaaW1.Multiply(s.Temp, hidden, tokens);
        TensorPrimitives.Tanh(hidden, hidden);
        BlockDiagonal.Multiply(l.MaaW2, Shifts, hidden, s.Shifts, tokens);   // [5, T, C]
        MixShift(s, l.MaaW, 0, s.XW);
        MixShift(s, l.MaaK, 1, s.XK);
        MixShift(s, l.MaaV, 2, s.XV);
        MixShift(s, l.MaaR, 3, s.XR);
        MixShift(s, l.MaaG, 4, s.XG);

        l.Receptance.Multiply(s.XR, s.R, tokens);
        l.Key.Multiply(s.XK, s.K, tokens);
        l.Value.Multiply(s.XV, s.V, tokens);
        l.Gate.Multiply(s.XG, s.G, tokens);
        TensorPrimitives.Sigmoid(s.G, s.Temp);
        TensorPrimitives.Multiply(s.G, s.Temp, s.G);                          // silu
        hidden = s.Hidden.AsSpan(0, tokens * l.DecayW1.Rows);
        l.DecayW1.Multiply(s.XW, hidden, tokens);
        TensorPrimitives.Tanh(hidden, hidden);
        l.DecayW2.Multiply(hidden, s.W, tokens);
        EngineMath.AddPerToken(s.W, l.Decay, s.W);
        TensorPrimitives.Exp(s.W, s.W);
        TensorPrimitives.Negate(s.W, s.W);
        TensorPrimitives.Exp(s.W, s.W);                                       // exp(−exp(d + LoRA)) in (0, 1)

        Wkv6Cpu.Run(_wkvShape.WithSteps(tokens), s.R, s.W, s.K, s.V, l.Bonus, state.Wkv[layer], s.Y);
        EngineMath.GroupNormPerToken(s.Y, Config.HeadCount, l.LnXWeight, l.LnXBias, s.O);
        TensorPrimitives.Multiply(s.O, s.G, s.O);
        l.Output.Multiply(s.O, s.Temp, tokens);
        TensorPrimitives.Add(x, s.Temp, x);

        // Channel mix: r = σ(x_r·Wrᵀ), k = relu(x_k·Wkᵀ)², out = r ⊙ (k·Wvᵀ).
        EngineMath.LayerNormPerToken(x, l.Ln2Weight, l.Ln2Bias, s.Normed);
        EngineMath.TokenShift(state.FeedForwardShift[layer], s.Normed, s.Dx);
        EngineMath.MixPerToken(s.Normed, s.Dx, l.FfnMaaK, s.XK);
        EngineMath.MixPerToken(s.Normed, s.Dx, l.FfnMaaR, s.XR);
        l.FfnReceptance.Multiply(s.XR, s.R, tokens);
        TensorPrimitives.Sigmoid(s.R, s.R);
        l.FfnKey.Multiply(s.XK, s.FeedForward, tokens);
        TensorPrimitives.Max(s.FeedForward, 0f, s.FeedForward);
        TensorPrimitives.Multiply(s.FeedForward, s.FeedForward, s.FeedForward);
        l.FfnValue.Multiply(s.FeedForward, s.Temp, tokens);
        TensorPrimitives.MultiplyAdd(s.R, s.Temp, x, x);
    }

    /// <summary>x_i = x + dx ⊙ (μ_i + m_i) for shift <paramref name="index"/>, every token of the run.</summary>
    private static void MixShift(Buffers s, float[] mu, int index, float[] destination)
    {
        Span<float> m = s.Shifts.AsSpan(index * destination.Length, destination.Length);
        EngineMath.AddPerToken(m, mu, m);
        TensorPrimitives.MultiplyAdd(s.Dx, m, s.Normed, destination);
    }

    /// <summary>One block's weights: vectors as float32 <c>[C]</c> (the bonus u as <c>[H·N]</c>), matrices as products.</summary>
    private sealed class Layer
    {
        public required float[] Ln1Weight, Ln1Bias, Ln2Weight, Ln2Bias, MaaX, MaaW, MaaK, MaaV, MaaR, MaaG, Decay, Bonus;
        public required float[] LnXWeight, LnXBias, FfnMaaK, FfnMaaR;
        public required IMatrixVectorProduct MaaW1, MaaW2, DecayW1, DecayW2, Receptance, Key, Value, Gate, Output;
        public required IMatrixVectorProduct FfnKey, FfnReceptance, FfnValue;
    }

    /// <summary>A run's buffers, <c>[T, C]</c> unless named otherwise.</summary>
    private sealed class Buffers(int c, int f, int hidden, int tokens) : StepBuffers(c, tokens)
    {
        public float[] Normed { get; } = new float[tokens * c];
        public float[] Dx { get; } = new float[tokens * c];
        public float[] XR { get; } = new float[tokens * c];
        public float[] XW { get; } = new float[tokens * c];
        public float[] XK { get; } = new float[tokens * c];
        public float[] XV { get; } = new float[tokens * c];
        public float[] XG { get; } = new float[tokens * c];
        public float[] R { get; } = new float[tokens * c];
        public float[] W { get; } = new float[tokens * c];
        public float[] K { get; } = new float[tokens * c];
        public float[] V { get; } = new float[tokens * c];
        public float[] G { get; } = new float[tokens * c];
        public float[] Y { get; } = new float[tokens * c];
        public float[] O { get; } = new float[tokens * c];
        public float[] Temp { get; } = new float[tokens * c];

        /// <summary>The five data-dependent shifts m_i <c>[5, T, C]</c>.</summary>
        public float[] Shifts { get; } = new float[Rwkv6Recurrence.Shifts * tokens * c];

        /// <summary>A LoRA's hidden activations <c>[T, max(5D, D_w)]</c>.</summary>
        public float[] Hidden { get; } = new float[tokens * Math.Max(hidden, 1)];

        /// <summary>The channel mix's hidden activations <c>[T, F]</c>.</summary>
        public float[] FeedForward { get; } = new float[tokens * f];
    }
}
