using System.Numerics.Tensors;
using RwkvQuant.Kernels.Wkv;
using RwkvQuant.Models;

namespace RwkvQuant.Inference;

/// <summary>
/// RWKV-7's token step on float arrays, the same function as <c>Rwkv7Network</c> in recurrent mode: token shift with
/// the six mix vectors, r/k/v projections, the decay, in-context learning rate, value-residual and gate LoRAs, κ̂ and
/// the generalized delta rule (<see cref="Wkv7Cpu"/>), per-head GroupNorm, the r·k·r_k bonus, the gated output, then
/// the squared-ReLU channel mix.
/// </summary>
internal sealed class Rwkv7Recurrence : RecurrentNetwork
{
    /// <summary>e^(−0.5): w = exp(−e^(−0.5)·σ(w0 + LoRA)).</summary>
    private static readonly float DecayScale = MathF.Exp(-0.5f);

    private readonly Layer[] _layers;
    private readonly WkvShape _wkvShape;
    private readonly int _maxHidden;

    public Rwkv7Recurrence(EngineWeights weights) : base(weights)
    {
        int c = Config.EmbeddingSize, f = Config.FeedForwardSize;
        _wkvShape = new WkvShape(1, Config.HeadCount, Config.HeadSize); // one step; a run takes WithSteps(T)
        _layers = new Layer[Config.LayerCount];
        for (int i = 0; i < _layers.Length; i++)
        {
            string p = $"blocks.{i}.";
            float[] V(string name) => weights.Vector(p + name, c);
            IMatrixVectorProduct Projection(string name, int rows, int columns) => weights.Matrix(p + name, LinearLayout.OutIn, rows, columns);
            // LoRA matrices: the down-projection [D, C] (D from the tensor), the up-projection [C, D].
            (IMatrixVectorProduct Down, IMatrixVectorProduct Up) LoRA(string down, string up)
            {
                IMatrixVectorProduct d = weights.Matrix(p + down, LinearLayout.InOut, null, c);
                return (d, weights.Matrix(p + up, LinearLayout.InOut, c, d.Rows));
            }
            bool first = i == 0;
            var layer = new Layer
            {
                Ln1Weight = V("ln1.weight"), Ln1Bias = V("ln1.bias"), Ln2Weight = V("ln2.weight"), Ln2Bias = V("ln2.bias"),
                Xr = V("att.x_r"), Xw = V("att.x_w"), Xk = V("att.x_k"), Xv = V("att.x_v"), Xa = V("att.x_a"), Xg = V("att.x_g"),
                W0 = V("att.w0"), A0 = V("att.a0"), V0 = first ? null : V("att.v0"),
                KK = V("att.k_k"), KA = V("att.k_a"), RK = V("att.r_k"),
                LnXWeight = V("att.ln_x.weight"), LnXBias = V("att.ln_x.bias"), FfnXk = V("ffn.x_k"),
                Receptance = Projection("att.receptance.weight", c, c), Key = Projection("att.key.weight", c, c),
                Value = Projection("att.value.weight", c, c), Output = Projection("att.output.weight", c, c),
                FfnKey = Projection("ffn.key.weight", f, c), FfnValue = Projection("ffn.value.weight", c, f),
            };
            (layer.W1, layer.W2) = LoRA("att.w1", "att.w2");
            (layer.A1, layer.A2) = LoRA("att.a1", "att.a2");
            (layer.G1, layer.G2) = LoRA("att.g1", "att.g2");
            if (!first)
                (layer.V1, layer.V2) = LoRA("att.v1", "att.v2");
            _layers[i] = layer;
            _maxHidden = Math.Max(_maxHidden, new[] { layer.W1.Rows, layer.A1.Rows, layer.G1.Rows, layer.V1?.Rows ?? 0 }.Max());
        }
    }

    public override StepBuffers CreateScratch(int tokens) => new Buffers(Config.EmbeddingSize, Config.FeedForwardSize, _maxHidden, tokens);

    protected override void Block(int layer, Span<float> x, int tokens, RwkvEngineState state)
    {
        Layer l = _layers[layer];
        var s = (Buffers)state.Scratch;
        int h = Config.HeadCount, n = Config.HeadSize, c = Config.EmbeddingSize;

        // Time mix on xa = ln1(x); dx = x_{t−1} − x_t.
        EngineMath.LayerNormPerToken(x, l.Ln1Weight, l.Ln1Bias, s.Normed);
        EngineMath.TokenShift(state.AttentionShift[layer], s.Normed, s.Dx);
        EngineMath.MixPerToken(s.Normed, s.Dx, l.Xr, s.XR);
        EngineMath.MixPerToken(s.Normed, s.Dx, l.Xw, s.XW);
        EngineMath.MixPerToken(s.Normed, s.Dx, l.Xk, s.XK);
        EngineMath.MixPerToken(s.Normed, s.Dx, l.Xv, s.XV);
        EngineMath.MixPerToken(s.Normed, s.Dx, l.Xa, s.XA);
        EngineMath.MixPerToken(s.Normed, s.Dx, l.Xg, s.XG);

        l.Receptance.Multiply(s.XR, s.R, tokens);
        Span<float> hidden = s.Hidden.AsSpan(0, tokens * l.W1.Rows);
        l.W1.Multiply(s.XW, hidden, tokens);
        TensorPrimitives.Tanh(hidden, hidden);
        l.W2.Multiply(hidden, s.W, tokens);
        EngineMath.AddPerToken(s.W, l.W0, s.W);
        TensorPrimitives.Sigmoid(s.W, s.W);
        TensorPrimitives.Multiply(s.W, -DecayScale, s.W);
        TensorPrimitives.Exp(s.W, s.W);                                       // decay in (0, 1)
        l.Key.Multiply(s.XK, s.K, tokens);
        l.Value.Multiply(s.XV, s.V, tokens);
        hidden = s.Hidden.AsSpan(0, tokens * l.A1.Rows);
        l.A1.Multiply(s.XA, hidden, tokens);
        l.A2.Multiply(hidden, s.A, tokens);
        EngineMath.AddPerToken(s.A, l.A0, s.A);
        TensorPrimitives.Sigmoid(s.A, s.A);                                   // in-context learning rate
        hidden = s.Hidden.AsSpan(0, tokens * l.G1.Rows);
        l.G1.Multiply(s.XG, hidden, tokens);
        TensorPrimitives.Sigmoid(hidden, hidden);
        l.G2.Multiply(hidden, s.G, tokens);                                   // output gate

        EngineMath.MultiplyPerToken(s.K, l.KK, s.Kappa);
        EngineMath.NormalizeHeads(s.Kappa, tokens * h);                       // κ̂ per head
        TensorPrimitives.Subtract(s.A, 1f, s.Temp);
        for (int t = 0; t < tokens * c; t += c)
            TensorPrimitives.MultiplyAdd(s.Temp.AsSpan(t, c), l.KA, 1f, s.Temp.AsSpan(t, c));
        TensorPrimitives.Multiply(s.K, s.Temp, s.K);                          // k ⊙ (1 + (a − 1) ⊙ k_a)
        if (layer == 0)
        {
            s.V.CopyTo(s.ValueFirst);
        }
        else
        {
            hidden = s.Hidden.AsSpan(0, tokens * l.V1!.Rows);
            l.V1.Multiply(s.XV, hidden, tokens);
            l.V2!.Multiply(hidden, s.Temp, tokens);
            EngineMath.AddPerToken(s.Temp, l.V0!, s.Temp);
            TensorPrimitives.Sigmoid(s.Temp, s.Temp);
            TensorPrimitives.Subtract(s.ValueFirst, s.V, s.Dx);               // dx is free again
            TensorPrimitives.MultiplyAdd(s.Dx, s.Temp, s.V, s.V);             // v + (v_first − v) ⊙ σ(…)
        }

        TensorPrimitives.Negate(s.Kappa, s.Z);                                // z = −κ̂
        TensorPrimitives.Multiply(s.Kappa, s.A, s.B);                         // b = κ̂ ⊙ a
        Wkv7Cpu.Run(_wkvShape.WithSteps(tokens), s.R, s.W, s.K, s.V, s.Z, s.B, state.Wkv[layer], s.Y);

        EngineMath.GroupNormPerToken(s.Y, h, l.LnXWeight, l.LnXBias, s.O);
        TensorPrimitives.Multiply(s.R, s.K, s.Temp);
        EngineMath.MultiplyPerToken(s.Temp, l.RK, s.Temp);
        for (int head = 0; head < tokens * h; head++)
        {
            float bonus = TensorPrimitives.Sum(s.Temp.AsSpan(head * n, n));   // Σ_head r ⊙ k ⊙ r_k
            Span<float> o = s.O.AsSpan(head * n, n);
            TensorPrimitives.MultiplyAdd(s.V.AsSpan(head * n, n), bonus, o, o);
        }
        TensorPrimitives.Multiply(s.O, s.G, s.O);
        l.Output.Multiply(s.O, s.Temp, tokens);
        TensorPrimitives.Add(x, s.Temp, x);

        // Channel mix: k = relu(x_k·Wkᵀ)², out = k·Wvᵀ.
        EngineMath.LayerNormPerToken(x, l.Ln2Weight, l.Ln2Bias, s.Normed);
        EngineMath.TokenShift(state.FeedForwardShift[layer], s.Normed, s.Dx);
        EngineMath.MixPerToken(s.Normed, s.Dx, l.FfnXk, s.XK);
        l.FfnKey.Multiply(s.XK, s.FeedForward, tokens);
        TensorPrimitives.Max(s.FeedForward, 0f, s.FeedForward);
        TensorPrimitives.Multiply(s.FeedForward, s.FeedForward, s.FeedForward);
        l.FfnValue.Multiply(s.FeedForward, s.Temp, tokens);
        TensorPrimitives.Add(x, s.Temp, x);
    }

    /// <summary>One block's weights: vectors as float32 <c>[C]</c>, matrices as products.</summary>
    private sealed class Layer
    {
        public required float[] Ln1Weight, Ln1Bias, Ln2Weight, Ln2Bias, Xr, Xw, Xk, Xv, Xa, Xg, W0, A0, KK, KA, RK, LnXWeight, LnXBias, FfnXk;
        public required float[]? V0;
        public required IMatrixVectorProduct Receptance, Key, Value, Output, FfnKey, FfnValue;
        public IMatrixVectorProduct W1 = null!, W2 = null!, A1 = null!, A2 = null!, G1 = null!, G2 = null!;
        public IMatrixVectorProduct? V1, V2;
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
        public float[] XA { get; } = new float[tokens * c];
        public float[] XG { get; } = new float[tokens * c];
        public float[] R { get; } = new float[tokens * c];
        public float[] W { get; } = new float[tokens * c];
        public float[] K { get; } = new float[tokens * c];
        public float[] V { get; } = new float[tokens * c];
        public float[] A { get; } = new float[tokens * c];
        public float[] G { get; } = new float[tokens * c];
        public float[] Kappa { get; } = new float[tokens * c];
        public float[] Z { get; } = new float[tokens * c];
        public float[] B { get; } = new float[tokens * c];
        public float[] Y { get; } = new float[tokens * c];
        public float[] O { get; } = new float[tokens * c];
        public float[] Temp { get; } = new float[tokens * c];

        /// <summary>Layer 0's values v, which the later layers' value residual mixes in.</summary>
        public float[] ValueFirst { get; } = new float[tokens * c];

        /// <summary>A LoRA's hidden activations <c>[T, max D]</c>.</summary>
        public float[] Hidden { get; } = new float[tokens * Math.Max(hidden, 1)];

        /// <summary>The channel mix's hidden activations <c>[T, F]</c>.</summary>
        public float[] FeedForward { get; } = new float[tokens * f];
    }
}
