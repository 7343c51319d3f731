using TorchSharp;
using static RwkvQuant.Models.RwkvOps;
using static RwkvQuant.Native.TorchScalars;
using static TorchSharp.torch;

namespace RwkvQuant.Models;

/// <summary>
/// RWKV-6 "Finch" (data-dependent token shift and decay), following BlinkDL's <c>rwkv_v6_demo.py</c> and rwkv.cpp's
/// <c>rwkv_att_v6</c>. Per head the state S is N×N (key × value): y_t = r_tᵀ·(diag(u)·k_t·v_tᵀ + S),
/// S ← diag(w_t)·S + k_t·v_tᵀ, with w_t = exp(−exp(d + LoRA_d(x_w))).
/// State per layer: [0] time-mix shift x <c>[B, C]</c>, [1] channel-mix shift x <c>[B, C]</c>, [2] S <c>[B, H, N, N]</c>.
/// </summary>
internal sealed class Rwkv6Network : RwkvNetwork
{
    /// <summary>ε of the per-head GroupNorm <c>ln_x</c>: 64e-5 (rwkv.cpp scales x by 1/8 and uses 1e-5, the same thing).</summary>
    private const double GroupNormEpsilon = 64e-5;

    private readonly NetworkWeights<Layer> _weights;

    /// <summary>A network over <paramref name="model"/>. Nothing is copied yet: each block (and the embedding, and the
    /// head) becomes float32 torch tensors the first time it runs (<see cref="NetworkWeights{TLayer}"/>).</summary>
    public Rwkv6Network(RwkvModel model) : base(model.Config) => _weights = new NetworkWeights<Layer>(model, LoadLayer);

    private Tensor Load(string name, params long[] shape) => _weights.Load(name, shape);

    private Layer LoadLayer(int i)
    {
        long c = Config.EmbeddingSize, f = Config.FeedForwardSize;
        Tensor Vector(string name) => Load(name, c);
        Tensor Square(string name) => Load(name, c, c);
        string p = $"blocks.{i}.";
        long mixInner = _weights.ElementCount(p + "att.time_maa_w2") / (5 * c);
        return new Layer(p,
            Vector(p + "ln1.weight"), Vector(p + "ln1.bias"), Vector(p + "ln2.weight"), Vector(p + "ln2.bias"),
            Vector(p + "att.time_maa_x"), Vector(p + "att.time_maa_w"), Vector(p + "att.time_maa_k"),
            Vector(p + "att.time_maa_v"), Vector(p + "att.time_maa_r"), Vector(p + "att.time_maa_g"),
            _weights.LoadRows(p + "att.time_maa_w1", c), Load(p + "att.time_maa_w2", 5, mixInner, c),
            Vector(p + "att.time_decay"), _weights.LoadRows(p + "att.time_decay_w1", c), _weights.LoadColumns(p + "att.time_decay_w2", c),
            Load(p + "att.time_faaaa", Config.HeadCount, Config.HeadSize),
            Square(p + "att.receptance.weight"), Square(p + "att.key.weight"), Square(p + "att.value.weight"),
            Square(p + "att.gate.weight"), Square(p + "att.output.weight"), Vector(p + "att.ln_x.weight"), Vector(p + "att.ln_x.bias"),
            Vector(p + "ffn.time_maa_k"), Vector(p + "ffn.time_maa_r"),
            Load(p + "ffn.key.weight", f, c), Square(p + "ffn.receptance.weight"), Load(p + "ffn.value.weight", c, f));
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
        using (var layerScope = torch.NewDisposeScope())
        {
            Layer l = _weights.Layer(block);
            Tensor xa = LayerNorm(x, l.Ln1Weight, l.Ln1Bias);
            x = x.add(TimeMix(l, xa, s[0], s[2], out wkvState), One);
            attShift = Last(xa);
            Tensor xf = LayerNorm(x, l.Ln2Weight, l.Ln2Bias);
            x = x.add(ChannelMix(l, xf, s[1]), One);
            ffnShift = Last(xf);
            x.MoveToOuterDisposeScope();
            attShift.MoveToOuterDisposeScope();
            ffnShift.MoveToOuterDisposeScope();
            wkvState.MoveToOuterDisposeScope();
        }
        state.Set(block, 0, attShift);
        state.Set(block, 1, ffnShift);
        state.Set(block, 2, wkvState);
        return x;
    }

    private protected override Tensor Head(Tensor x)
    {
        EndWeights output = _weights.Output;
        x = LayerNorm(x, output.NormWeight, output.NormBias);
        return Observe("").Linear(x, output.Matrix, "head.weight");              // [B, T, V]
    }

    /// <summary>Time mixing of xa <c>[B, T, C]</c> (already layer-normed); returns its output and the new S.</summary>
    private Tensor TimeMix(Layer l, Tensor x, Tensor lastX, Tensor s0, out Tensor s)
    {
        long batch = x.shape[0], steps = x.shape[1];
        int h = Config.HeadCount, n = Config.HeadSize;
        ObservedOps op = Observe(l.Prefix);
        Tensor dx = Shift(x, lastX) - x;                                      // x_{t−1} − x_t

        // Data-dependent token shift (ddlerp): five LoRA offsets m_{w,k,v,r,g} from one shared projection, each mixed
        // as x + dx·(μ + m), so dx is the operand of μ_x and of every μ_{w,k,v,r,g}.
        Tensor xx = op.Mix(x, dx, l.MaaX, "att.time_maa_x");
        Tensor xxx = op.Lora(xx, l.MaaW1, "att.time_maa_w1").tanh();          // x·W1, W1 [C, 5D] → [B, T, 5D]
        op.Input("att.time_maa_w2", xxx);                                     // W2's input, multiplied slice by slice below
        xxx = xxx.reshape(batch * steps, 5, -1).transpose(0, 1);              // [5, B·T, D]; slice i of W2 [5, D, C] sees xxx[..., iD:(i+1)D]
        Tensor[] m = xxx.bmm(l.MaaW2).reshape(5, batch, steps, -1).unbind(0); // 5 × [B, T, C]
        Tensor xw = op.Mix(x, dx, l.MaaW.add(m[0], One), "att.time_maa_w"), xk = op.Mix(x, dx, l.MaaK.add(m[1], One), "att.time_maa_k");
        Tensor xv = op.Mix(x, dx, l.MaaV.add(m[2], One), "att.time_maa_v"), xr = op.Mix(x, dx, l.MaaR.add(m[3], One), "att.time_maa_r");
        Tensor xg = op.Mix(x, dx, l.MaaG.add(m[4], One), "att.time_maa_g");

        Tensor r = op.Linear(xr, l.Receptance, "att.receptance.weight");      // [B, T, C]
        Tensor k = op.Linear(xk, l.Key, "att.key.weight");
        Tensor v = op.Linear(xv, l.Value, "att.value.weight");
        Tensor g = nn.functional.silu(op.Linear(xg, l.Gate, "att.gate.weight"));
        Tensor decayHidden = op.Lora(xw, l.DecayW1, "att.time_decay_w1").tanh(); // [B, T, D_w]
        Tensor w = (-l.Decay.add(op.Lora(decayHidden, l.DecayW2, "att.time_decay_w2"), One).exp()).exp(); // decay in (0, 1)

        Tensor r4 = r.reshape(batch, steps, h, n), w4 = w.reshape(batch, steps, h, n);
        Tensor k4 = k.reshape(batch, steps, h, n), v4 = v.reshape(batch, steps, h, n);
        Tensor y = Wkv(r4, w4, k4, v4, l.Bonus, s0, out s);                    // [B, T, H, N]
        op.Wkv(new WkvTrace(r4, w4, k4, v4, l.Bonus, null, null, s0, y, s));
        Tensor o = GroupNorm(y.reshape(batch, steps, -1), h, l.LnXWeight, l.LnXBias, GroupNormEpsilon) * g;
        return op.Linear(o, l.Output, "att.output.weight");
    }

    /// <summary>
    /// The WKV recurrence over T, per batch and head: y_t = r_tᵀ·(diag(u)·k_t·v_tᵀ + S_{t−1}),
    /// S_t = diag(w_t)·S_{t−1} + k_t·v_tᵀ. Inputs <c>[B, T, H, N]</c>, u <c>[H, N]</c>, S <c>[B, H, N(key), N(value)]</c>.
    /// Returns y and the new S <paramref name="s"/> (never <paramref name="s0"/>), both in the caller's dispose scope.
    /// Without a gradient to record it runs on the SIMD kernel (<see cref="KernelWkv.Rwkv6"/>), else on <see cref="WkvTorch"/>.
    /// </summary>
    internal static Tensor Wkv(Tensor r, Tensor w, Tensor k, Tensor v, Tensor u, Tensor s0, out Tensor s) =>
        KernelWkv.Applies(s0, r, w, k, v, u)
            ? KernelWkv.Rwkv6(r, w, k, v, u, s0, out s)
            : WkvTorch(r, w, k, v, u, s0, out s);

    /// <summary><see cref="Wkv"/> as a per-token loop of libtorch calls (differentiable; the reference of the kernel path).</summary>
    internal static Tensor WkvTorch(Tensor r, Tensor w, Tensor k, Tensor v, Tensor u, Tensor s0, out Tensor s)
    {
        long steps = r.shape[1];
        var outputs = new Tensor[steps];
        Tensor current = s0;
        Tensor u4 = u.unsqueeze(-1);                                                   // [H, N, 1]
        for (long t = 0; t < steps; t++)
        {
            using var stepScope = torch.NewDisposeScope();
            Tensor rt = r.select(1, t), wt = w.select(1, t), kt = k.select(1, t), vt = v.select(1, t); // [B, H, N]
            Tensor kv = kt.unsqueeze(-1) * vt.unsqueeze(-2);                           // [B, H, N, N]
            outputs[t] = rt.unsqueeze(-2).matmul((u4 * kv).add(current, One)).squeeze(-2).MoveToOuterDisposeScope(); // [B, H, N]
            Tensor next = kv.add(wt.unsqueeze(-1) * current, One).MoveToOuterDisposeScope();
            if (!ReferenceEquals(current, s0))
                current.Dispose();
            current = next;
        }
        s = current; // T >= 1, so this is a new tensor, never the caller's s0
        return torch.stack(outputs, 1);
    }

    /// <summary>Channel mixing: r = σ(x_r·Wrᵀ), k = relu(x_k·Wkᵀ)², out = r ⊙ (k·Wvᵀ).</summary>
    private Tensor ChannelMix(Layer l, Tensor x, Tensor lastX)
    {
        ObservedOps op = Observe(l.Prefix);
        Tensor dx = Shift(x, lastX) - x;
        Tensor xk = op.Mix(x, dx, l.FfnMaaK, "ffn.time_maa_k"), xr = op.Mix(x, dx, l.FfnMaaR, "ffn.time_maa_r");
        Tensor r = op.Linear(xr, l.FfnReceptance, "ffn.receptance.weight").sigmoid();
        Tensor k = op.Linear(xk, l.FfnKey, "ffn.key.weight").relu().pow(Two);
        return r * op.Linear(k, l.FfnValue, "ffn.value.weight");
    }

    protected override void Dispose(bool disposing)
    {
        if (!disposing)
            return;
        _weights.Dispose();
    }

    /// <summary>One block's weights in BlinkDL's layout; token-shift vectors and the decay base flattened to [C].</summary>
    private sealed record Layer(
        string Prefix,
        Tensor Ln1Weight, Tensor Ln1Bias, Tensor Ln2Weight, Tensor Ln2Bias,
        Tensor MaaX, Tensor MaaW, Tensor MaaK, Tensor MaaV, Tensor MaaR, Tensor MaaG,
        Tensor MaaW1, Tensor MaaW2, Tensor Decay, Tensor DecayW1, Tensor DecayW2, Tensor Bonus,
        Tensor Receptance, Tensor Key, Tensor Value, Tensor Gate, Tensor Output, Tensor LnXWeight, Tensor LnXBias,
        Tensor FfnMaaK, Tensor FfnMaaR, Tensor FfnKey, Tensor FfnReceptance, Tensor FfnValue);
}
