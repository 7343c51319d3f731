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
        _wkvShape = new WkvShape(1, Config.HeadCount, Config.HeadSize);
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

    public override StepBuffers CreateScratch() => new Buffers(Config.EmbeddingSize, Config.FeedForwardSize, _maxHidden);

    protected override void Block(int layer, Span<float> x, RwkvEngineState state)
    {
        Layer l = _layers[layer];
        var s = (Buffers)state.Scratch;
        int h = Config.HeadCount, n = Config.HeadSize;

        // Time mix on xa = ln1(x); dx = x_{t−1} − x_t.
        float[] shift = state.AttentionShift[layer];
        EngineMath.LayerNorm(x, l.Ln1Weight, l.Ln1Bias, s.Normed);
        TensorPrimitives.Subtract(shift, s.Normed, s.Dx);
        s.Normed.CopyTo(shift);
        EngineMath.Mix(s.Normed, s.Dx, l.Xr, s.XR);
        EngineMath.Mix(s.Normed, s.Dx, l.Xw, s.XW);
        EngineMath.Mix(s.Normed, s.Dx, l.Xk, s.XK);
        EngineMath.Mix(s.Normed, s.Dx, l.Xv, s.XV);
        EngineMath.Mix(s.Normed, s.Dx, l.Xa, s.XA);
        EngineMath.Mix(s.Normed, s.Dx, l.Xg, s.XG);

        l.Receptance.Multiply(s.XR, s.R);
        Span<float> hidden = s.Hidden.AsSpan(0, l.W1.Rows);
        l.W1.Multiply(s.XW, hidden);
        TensorPrimitives.Tanh(hidden, hidden);
        l.W2.Multiply(hidden, s.W);
        TensorPrimitives.Add(s.W, l.W0, s.W);
        TensorPrimitives.Sigmoid(s.W, s.W);
        TensorPrimitives.Multiply(s.W, -DecayScale, s.W);
        TensorPrimitives.Exp(s.W, s.W);                                       // decay in (0, 1)
        l.Key.Multiply(s.XK, s.K);
        l.Value.Multiply(s.XV, s.V);
        hidden = s.Hidden.AsSpan(0, l.A1.Rows);
        l.A1.Multiply(s.XA, hidden);
        l.A2.Multiply(hidden, s.A);
        TensorPrimitives.Add(s.A, l.A0, s.A);
        TensorPrimitives.Sigmoid(s.A, s.A);                                   // in-context learning rate
        hidden = s.Hidden.AsSpan(0, l.G1.Rows);
        l.G1.Multiply(s.XG, hidden);
        TensorPrimitives.Sigmoid(hidden, hidden);
        l.G2.Multiply(hidden, s.G);                                           // output gate

        TensorPrimitives.Multiply(s.K, l.KK, s.Kappa);
        EngineMath.NormalizeHeads(s.Kappa, h);                                // κ̂ per head
        TensorPrimitives.Subtract(s.A, 1f, s.Temp);
        TensorPrimitives.MultiplyAdd(s.Temp, l.KA, 1f, s.Temp);
        TensorPrimitives.Multiply(s.K, s.Temp, s.K);                          // k ⊙ (1 + (a − 1) ⊙ k_a)
        if (layer == 0)
        {
            s.V.CopyTo(s.ValueFirst);
        }
        else
        {
            hidden = s.Hidden.AsSpan(0, l.V1!.Rows);
            l.V1.Multiply(s.XV, hidden);
            l.V2!.Multiply(hidden, s.Temp);
            TensorPrimitives.Add(s.Temp, l.V0!, s.Temp);
            TensorPrimitives.Sigmoid(s.Temp, s.Temp);
            TensorPrimitives.Subtract(s.ValueFirst, s.V, s.Dx);               // dx is free again
            TensorPrimitives.MultiplyAdd(s.Dx, s.Temp, s.V, s.V);             // v + (v_first − v) ⊙ σ(…)
        }

        TensorPrimitives.Negate(s.Kappa, s.Z);                                // z = −κ̂
        TensorPrimitives.Multiply(s.Kappa, s.A, s.B);                         // b = κ̂ ⊙ a
        Wkv7Cpu.Run(_wkvShape, s.R, s.W, s.K, s.V, s.Z, s.B, state.Wkv[layer], s.Y);

        EngineMath.GroupNorm(s.Y, h, l.LnXWeight, l.LnXBias, s.O);
        TensorPrimitives.Multiply(s.R, s.K, s.Temp);
        TensorPrimitives.Multiply(s.Temp, l.RK, s.Temp);
        for (int head = 0; head < h; head++)
        {
            float bonus = TensorPrimitives.Sum(s.Temp.AsSpan(head * n, n));   // Σ_head r ⊙ k ⊙ r_k
            Span<float> o = s.O.AsSpan(head * n, n);
            TensorPrimitives.MultiplyAdd(s.V.AsSpan(head * n, n), bonus, o, o);
        }
        TensorPrimitives.Multiply(s.O, s.G, s.O);
        l.Output.Multiply(s.O, s.Temp);
        TensorPrimitives.Add(x, s.Temp, x);

        // Channel mix: k = relu(x_k·Wkᵀ)², out = k·Wvᵀ.
        float[] ffnShift = state.FeedForwardShift[layer];
        EngineMath.LayerNorm(x, l.Ln2Weight, l.Ln2Bias, s.Normed);
        TensorPrimitives.Subtract(ffnShift, s.Normed, s.Dx);
        s.Normed.CopyTo(ffnShift);
        EngineMath.Mix(s.Normed, s.Dx, l.FfnXk, s.XK);
        l.FfnKey.Multiply(s.XK, s.FeedForward);
        TensorPrimitives.Max(s.FeedForward, 0f, s.FeedForward);
        TensorPrimitives.Multiply(s.FeedForward, s.FeedForward, s.FeedForward);
        l.FfnValue.Multiply(s.FeedForward, s.Temp);
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

    /// <summary>The step's buffers, <c>[C]</c> unless named otherwise.</summary>
    private sealed class Buffers(int c, int f, int hidden) : StepBuffers(c)
    {
        public float[] Normed { get; } = new float[c];
        public float[] Dx { get; } = new float[c];
        public float[] XR { get; } = new float[c];
        public float[] XW { get; } = new float[c];
        public float[] XK { get; } = new float[c];
        public float[] XV { get; } = new float[c];
        public float[] XA { get; } = new float[c];
        public float[] XG { get; } = new float[c];
        public float[] R { get; } = new float[c];
        public float[] W { get; } = new float[c];
        public float[] K { get; } = new float[c];
        public float[] V { get; } = new float[c];
        public float[] A { get; } = new float[c];
        public float[] G { get; } = new float[c];
        public float[] Kappa { get; } = new float[c];
        public float[] Z { get; } = new float[c];
        public float[] B { get; } = new float[c];
        public float[] Y { get; } = new float[c];
        public float[] O { get; } = new float[c];
        public float[] Temp { get; } = new float[c];
        public float[] ValueFirst { get; } = new float[c];

        /// <summary>A LoRA's hidden activations <c>[max D]</c>.</summary>
        public float[] Hidden { get; } = new float[Math.Max(hidden, 1)];

        /// <summary>The channel mix's hidden activations <c>[F]</c>.</summary>
        public float[] FeedForward { get; } = new float[f];
    }
}
