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
    private readonly NetworkWeights<Rwkv7Layer> _weights;

    /// <summary>A network over <paramref name="model"/>. Nothing is copied yet: each block (and the embedding, and the
    /// head) becomes float32 torch tensors the first time it runs (<see cref="NetworkWeights{TLayer}"/>).</summary>
    public Rwkv7Network(RwkvModel model) : base(model.Config) => _weights = new NetworkWeights<Rwkv7Layer>(model, LoadLayer);

    private Tensor Load(string name, params long[] shape) => _weights.Load(name, shape);

    private Rwkv7Layer LoadLayer(int i)
    {
        long c = Config.EmbeddingSize, f = Config.FeedForwardSize;
        Tensor Vector(string name) => Load(name, c);
        Tensor Square(string name) => Load(name, c, c);
        Tensor LoraIn(string name) => _weights.LoadRows(name, c);
        Tensor LoraOut(string name) => _weights.LoadColumns(name, c);
        string p = $"blocks.{i}.";
        bool first = i == 0;
        return new Rwkv7Layer(p,
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
            Rwkv7Layer l = _weights.Layer(block);
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
    private Tensor TimeMix(Rwkv7Layer l, Tensor x, Tensor lastX, Tensor s0, ref Tensor? vFirst, out Tensor s)
    {
        ObservedOps op = Observe(l.Prefix);
        Tensor? sNew = null;
        Tensor output = Rwkv7Block.TimeMix(l, Config, op, x, lastX, ref vFirst, (r4, w4, k4, v4, z4, b4) =>
        {
            Tensor y = Wkv(r4, w4, k4, v4, z4, b4, s0, out Tensor next);       // [B, T, H, N]
            op.Wkv(new WkvTrace(r4, w4, k4, v4, null, z4, b4, s0, y, next));
            sNew = next;
            return y;
        });
        s = sNew!;
        return output;
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

    private Tensor ChannelMix(Rwkv7Layer l, Tensor x, Tensor lastX) => Rwkv7Block.ChannelMix(l, Observe(l.Prefix), x, lastX);

    protected override void Dispose(bool disposing)
    {
        if (!disposing)
            return;
        _weights.Dispose();
    }
}
