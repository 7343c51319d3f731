using TorchSharp;
using static RwkvQuant.Models.RwkvOps;
using static RwkvQuant.Native.TorchScalars;
using static TorchSharp.torch;

namespace RwkvQuant.Models;

/// <summary>
/// RWKV-7 "Goose" (generalized delta rule), following BlinkDL's <c>rwkv_v7_numpy.py</c> and rwkv.cpp's
/// <c>rwkv_att_v7</c>. Per head the state S is N×N (value × key) and advances as
/// S ← S·diag(w) + (S·z)·bᵀ + v·kᵀ with z = −κ̂, b = κ̂ ⊙ a; the output is S·r.
/// State per layer: [0] time-mix shift x <c>[B, C]</c>, [1] channel-mix shift x <c>[B, C]</c>, [2] S <c>[B, H, N, N]</c>.
/// </summary>
internal sealed class Rwkv7Network : RwkvNetwork
{
    /// <summary>ε of the per-head GroupNorm <c>ln_x</c> (BlinkDL: 64e-5; rwkv.cpp the same).</summary>
    private const double GroupNormEpsilon = 64e-5;

    /// <summary>−e^(−0.5), made from a float as before: the decay is w = exp(−e^(−0.5)·σ(w0 + LoRA)), i.e. exp(−exp(−softplus(−·) − 0.5)).</summary>
    private static readonly TorchSharp.Scalar MinusDecayScale = (-MathF.Exp(-0.5f)).ToScalar();

    private readonly NetworkWeights<Layer> _weights;

    /// <summary>A network over <paramref name="model"/>. Nothing is copied yet: each block (and the embedding, and the
    /// head) becomes float32 torch tensors the first time it runs (<see cref="NetworkWeights{TLayer}"/>).</summary>
    public Rwkv7Network(RwkvModel model) : base(model.Config) => _weights = new NetworkWeights<Layer>(model, LoadLayer);

    private Tensor Load(string name, params long[] shape) => _weights.Load(name, shape);

    private Layer LoadLayer(int i)
    {
        long c = Config.EmbeddingSize, f = Config.FeedForwardSize;
        Tensor Vector(string name) => Load(name, c);
        Tensor Square(string name) => Load(name, c, c);
        Tensor LoraIn(string name) => _weights.LoadRows(name, c);
        Tensor LoraOut(string name) => _weights.LoadColumns(name, c);
        string p = $"blocks.{i}.";
        bool first = i == 0;
        return new Layer(p,
            Vector(p + "ln1.weight"), Vector(p + "ln1.bias"), Vector(p + "ln2.weight"), Vector(p + "ln2.bias"),
            Vector(p + "att.x_r"), Vector(p + "att.x_w"), Vector(p + "att.x_k"),
            Vector(p + "att.x_v"), Vector(p + "att.x_a"), Vector(p + "att.x_g"),
            Vector(p + "att.w0"), LoraIn(p + "att.w1"), LoraOut(p + "att.w2"),
            Vector(p + "att.a0"), LoraIn(p + "att.a1"), LoraOut(p + "att.a2"),
            first ? null : Vector(p + "att.v0"), first ? null : LoraIn(p + "att.v1"), first ? null : LoraOut(p + "att.v2"),
            LoraIn(p + "att.g1"), LoraOut(p + "att.g2"),
            Vector(p + "att.k_k"), Vector(p + "att.k_a"), Vector(p + "att.r_k"),
            Square(p + "att.receptance.weight"), Square(p + "att.key.weight"), Square(p + "att.value.weight"),
            Square(p + "att.output.weight"), Vector(p + "att.ln_x.weight"), Vector(p + "att.ln_x.bias"),
            Vector(p + "ffn.x_k"), Load(p + "ffn.key.weight", f, c), Load(p + "ffn.value.weight", c, f));
    }

    public override RwkvState CreateState(int batchSize = 1) => MatrixValuedZeroState(Config, batchSize);

    private protected override Tensor Embed(Tensor tokens)
    {
        long batch = tokens.shape[0], steps = tokens.shape[1];
        EndWeights input = _weights.Input;
        using Tensor flat = tokens.reshape(-1);
        using Tensor rows = input.Matrix.index_select(0, flat);
        using Tensor x = rows.reshape(batch, steps, -1); // [B, T, C]
        return LayerNorm(x, input.NormWeight, input.NormBias);
    }

    private protected override Tensor RunBlock(int block, Tensor x, RwkvState state, BlockCarry carry)
    {
        Tensor[] s = state.Layer(block);
        Tensor attShift, ffnShift, wkvState;
        Tensor? vFirst = carry.ValueFirst;
        using (var layerScope = torch.NewDisposeScope())
        {
            Layer l = _weights.Layer(block);
            Tensor xa = LayerNorm(x, l.Ln1Weight, l.Ln1Bias);
            x = x.add(TimeMix(l, xa, s[0], s[2], ref vFirst, out wkvState), One);
            attShift = Last(xa);
            Tensor xf = LayerNorm(x, l.Ln2Weight, l.Ln2Bias);
            x = x.add(ChannelMix(l, xf, s[1]), One);
            ffnShift = Last(xf);
            x.MoveToOuterDisposeScope();
            if (block == 0)
                vFirst!.MoveToOuterDisposeScope();
            attShift.MoveToOuterDisposeScope();
            ffnShift.MoveToOuterDisposeScope();
            wkvState.MoveToOuterDisposeScope();
        }
        carry.ValueFirst = vFirst;
        state.Set(block, 0, attShift);
        state.Set(block, 1, ffnShift);
        state.Set(block, 2, wkvState);
        return x;
    }

    private protected override Tensor Head(Tensor x)
    {
        EndWeights output = _weights.Output;
        x = LayerNorm(x, output.NormWeight, output.NormBias);
        return Observe("").Linear(x, output.Matrix, "head.weight");             // [B, T, V]
    }

    /// <summary>Time mixing of xa <c>[B, T, C]</c> (already layer-normed); returns its output and the new S.</summary>
    private Tensor TimeMix(Layer l, Tensor x, Tensor lastX, Tensor s0, ref Tensor? vFirst, out Tensor s)
    {
        long batch = x.shape[0], steps = x.shape[1];
        int h = Config.HeadCount, n = Config.HeadSize;
        ObservedOps op = Observe(l.Prefix);
        Tensor dx = Shift(x, lastX) - x;                                      // x_{t−1} − x_t
        Tensor xr = op.Mix(x, dx, l.Xr, "att.x_r"), xw = op.Mix(x, dx, l.Xw, "att.x_w"), xk = op.Mix(x, dx, l.Xk, "att.x_k");
        Tensor xv = op.Mix(x, dx, l.Xv, "att.x_v"), xa = op.Mix(x, dx, l.Xa, "att.x_a"), xg = op.Mix(x, dx, l.Xg, "att.x_g");

        Tensor r = op.Linear(xr, l.Receptance, "att.receptance.weight");      // [B, T, C]
        Tensor decayHidden = op.Lora(xw, l.W1, "att.w1").tanh();              // x·w1, w1 [C, D]
        Tensor w = l.W0.add(op.Lora(decayHidden, l.W2, "att.w2"), One).sigmoid().mul(MinusDecayScale).exp(); // decay in (0, 1)
        Tensor k = op.Linear(xk, l.Key, "att.key.weight");
        Tensor v = op.Linear(xv, l.Value, "att.value.weight");
        Tensor aHidden = op.Lora(xa, l.A1, "att.a1");
        Tensor a = l.A0.add(op.Lora(aHidden, l.A2, "att.a2"), One).sigmoid(); // in-context learning rate
        Tensor gHidden = op.Lora(xg, l.G1, "att.g1").sigmoid();
        Tensor g = op.Lora(gHidden, l.G2, "att.g2");                          // output gate

        Tensor kk = nn.functional.normalize(op.Multiply(k, l.KK, "att.k_k").reshape(batch, steps, h, n), p: 2, dim: -1); // κ̂ per head
        Tensor aMinusOne = a.sub(One);
        op.Operand("att.k_a", k * aMinusOne);                                 // k + (k ⊙ (a − 1)) ⊙ k_a
        k = k * (aMinusOne * l.KA).add(One, One);
        if (vFirst is null)
        {
            vFirst = v;                                                       // layer 0: remember v
        }
        else
        {
            Tensor vHidden = op.Lora(xv, l.V1!, "att.v1");
            v = v.add((vFirst - v) * l.V0!.add(op.Lora(vHidden, l.V2!, "att.v2"), One).sigmoid(), One); // value residual
        }

        Tensor r4 = r.reshape(batch, steps, h, n), w4 = w.reshape(batch, steps, h, n);
        Tensor k4 = k.reshape(batch, steps, h, n), v4 = v.reshape(batch, steps, h, n);
        Tensor z4 = -kk, b4 = kk * a.reshape(batch, steps, h, n);
        Tensor y = Wkv(r4, w4, k4, v4, z4, b4, s0, out s);                     // [B, T, H, N]
        op.Wkv(new WkvTrace(r4, w4, k4, v4, null, z4, b4, s0, y, s));

        Tensor o = GroupNorm(y.reshape(batch, steps, -1), h, l.LnXWeight, l.LnXBias, GroupNormEpsilon);
        Tensor bonus = op.Multiply(r * k, l.RK, "att.r_k").reshape(batch, steps, h, n).sum(-1, keepdim: true) * v.reshape(batch, steps, h, n);
        o = o.add(bonus.reshape(batch, steps, -1), One) * g;                  // (Σ_head r ⊙ k ⊙ r_k) · v, gated
        return op.Linear(o, l.Output, "att.output.weight");
    }

    /// <summary>
    /// The WKV recurrence over T, per batch and head: S_t = S_{t−1}·diag(w_t) + (S_{t−1}·z_t)·b_tᵀ + v_t·k_tᵀ,
    /// y_t = S_t·r_t. All inputs <c>[B, T, H, N]</c>; S <c>[B, H, N(value), N(key)]</c>. Returns y and the new S
    /// <paramref name="s"/> (never <paramref name="s0"/>), both in the caller's dispose scope. Without a gradient to
    /// record it runs on the SIMD kernel (<see cref="KernelWkv.Rwkv7"/>), else on <see cref="WkvTorch"/>.
    /// </summary>
    internal static Tensor Wkv(Tensor r, Tensor w, Tensor k, Tensor v, Tensor z, Tensor b, Tensor s0, out Tensor s) =>
        KernelWkv.Applies(s0, r, w, k, v, z, b)
            ? KernelWkv.Rwkv7(r, w, k, v, z, b, s0, out s)
            : WkvTorch(r, w, k, v, z, b, s0, out s);

    /// <summary><see cref="Wkv"/> as a per-token loop of libtorch calls (differentiable; the reference of the kernel path).</summary>
    internal static Tensor WkvTorch(Tensor r, Tensor w, Tensor k, Tensor v, Tensor z, Tensor b, Tensor s0, out Tensor s)
    {
        long steps = r.shape[1];
        var outputs = new Tensor[steps];
        Tensor current = s0;
        for (long t = 0; t < steps; t++)
        {
            using var stepScope = torch.NewDisposeScope();
            Tensor rt = r.select(1, t), wt = w.select(1, t), kt = k.select(1, t);  // [B, H, N]
            Tensor vt = v.select(1, t), zt = z.select(1, t), bt = b.select(1, t);
            Tensor sz = current.matmul(zt.unsqueeze(-1));                          // [B, H, N, 1]
            Tensor next = (current * wt.unsqueeze(-2)).add(sz * bt.unsqueeze(-2), One).add(vt.unsqueeze(-1) * kt.unsqueeze(-2), One);
            outputs[t] = next.matmul(rt.unsqueeze(-1)).squeeze(-1).MoveToOuterDisposeScope(); // [B, H, N]
            next.MoveToOuterDisposeScope();
            if (!ReferenceEquals(current, s0))
                current.Dispose();
            current = next;
        }
        s = current; // T >= 1, so this is a new tensor, never the caller's s0
        return torch.stack(outputs, 1);
    }

    /// <summary>Channel mixing: k = relu(x_k · Wkᵀ)², out = k · Wvᵀ.</summary>
    private Tensor ChannelMix(Layer l, Tensor x, Tensor lastX)
    {
        ObservedOps op = Observe(l.Prefix);
        Tensor dx = Shift(x, lastX) - x;
        Tensor xk = op.Mix(x, dx, l.FfnXk, "ffn.x_k");
        Tensor k = op.Linear(xk, l.FfnKey, "ffn.key.weight").relu().pow(Two);
        return op.Linear(k, l.FfnValue, "ffn.value.weight");
    }

    protected override void Dispose(bool disposing)
    {
        if (!disposing)
            return;
        _weights.Dispose();
    }

    /// <summary>One block's weights; LoRA matrices in BlinkDL's (C, D) / (D, C) layout, vectors flattened to [C].</summary>
    private sealed record Layer(
        string Prefix,
        Tensor Ln1Weight, Tensor Ln1Bias, Tensor Ln2Weight, Tensor Ln2Bias,
        Tensor Xr, Tensor Xw, Tensor Xk, Tensor Xv, Tensor Xa, Tensor Xg,
        Tensor W0, Tensor W1, Tensor W2, Tensor A0, Tensor A1, Tensor A2,
        Tensor? V0, Tensor? V1, Tensor? V2, Tensor G1, Tensor G2,
        Tensor KK, Tensor KA, Tensor RK,
        Tensor Receptance, Tensor Key, Tensor Value, Tensor Output, Tensor LnXWeight, Tensor LnXBias,
        Tensor FfnXk, Tensor FfnKey, Tensor FfnValue);
}
