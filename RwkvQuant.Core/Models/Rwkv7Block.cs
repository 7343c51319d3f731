using TorchSharp;
using static RwkvQuant.Models.RwkvOps;
using static RwkvQuant.Native.TorchScalars;
using static TorchSharp.torch;

namespace RwkvQuant.Models;

/// <summary>
/// One RWKV-7 block's math on torch tensors, shared by the inference network (<see cref="Rwkv7Network"/>: weights
/// loaded from a model, observed for calibration, WKV over a carried state) and the trainer
/// (<c>Rwkv7TrainingModel</c>: trainable parameters, autograd, chunked WKV from the zero state). Only the WKV
/// recurrence differs between them, so it is passed in.
/// </summary>
internal static class Rwkv7Block
{
    /// <summary>ε of the per-head GroupNorm <c>ln_x</c> (BlinkDL: 64e-5; rwkv.cpp the same).</summary>
    public const double GroupNormEpsilon = 64e-5;

    /// <summary>−e^(−0.5), made from a float as before: the decay is w = exp(−e^(−0.5)·σ(w0 + LoRA)), i.e. exp(−exp(−softplus(−·) − 0.5)).</summary>
    private static readonly TorchSharp.Scalar MinusDecayScale = (-MathF.Exp(-0.5f)).ToScalar();

    /// <summary>The WKV recurrence of one block: r, w, k, v, z, b <c>[B, T, H, N]</c> to y <c>[B, T, H, N]</c>.</summary>
    public delegate Tensor WkvFunction(Tensor r, Tensor w, Tensor k, Tensor v, Tensor z, Tensor b);

    /// <summary>Time mixing of xa <c>[B, T, C]</c> (already layer-normed) with the shift <paramref name="lastX"/>
    /// <c>[B, C]</c>; <paramref name="vFirst"/> is layer 0's v, set by layer 0 and read by the others.</summary>
    public static Tensor TimeMix(Rwkv7Layer l, RwkvConfig config, ObservedOps op, Tensor x, Tensor lastX, ref Tensor? vFirst, WkvFunction wkv)
    {
        long batch = x.shape[0], steps = x.shape[1];
        int h = config.HeadCount, n = config.HeadSize;
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
        op.Operand("att.k_a", () => k * aMinusOne);                               // k + (k ⊙ (a − 1)) ⊙ k_a
        k = k * (aMinusOne * l.KA).add(One, One);
        if (vFirst is null)
        {
            vFirst = v;                                                       // layer 0: remember v
        }
        else
        {
            // Value residual, in the trainer's order of operations (autograd sums xv's gradients in the order its
            // consumers were made, so reordering changes training in the last bits).
            v = v.add((vFirst - v) * l.V0!.add(op.Lora(op.Lora(xv, l.V1!, "att.v1"), l.V2!, "att.v2"), One).sigmoid(), One);
        }

        Tensor r4 = r.reshape(batch, steps, h, n), w4 = w.reshape(batch, steps, h, n);
        Tensor k4 = k.reshape(batch, steps, h, n), v4 = v.reshape(batch, steps, h, n);
        Tensor z4 = -kk, b4 = kk * a.reshape(batch, steps, h, n);
        Tensor y = wkv(r4, w4, k4, v4, z4, b4);                                 // [B, T, H, N]

        Tensor o = GroupNorm(y.reshape(batch, steps, -1), h, l.LnXWeight, l.LnXBias, GroupNormEpsilon);
        Tensor bonus = op.Multiply(r * k, l.RK, "att.r_k").reshape(batch, steps, h, n).sum(-1, keepdim: true) * v4;
        o = o.add(bonus.reshape(batch, steps, -1), One) * g;                  // (Σ_head r ⊙ k ⊙ r_k) · v, gated
        return op.Linear(o, l.Output, "att.output.weight");
    }

    /// <summary>Channel mixing: k = relu(x_k · Wkᵀ)², out = k · Wvᵀ.</summary>
    public static Tensor ChannelMix(Rwkv7Layer l, ObservedOps op, Tensor x, Tensor lastX)
    {
        Tensor dx = Shift(x, lastX) - x;
        Tensor xk = op.Mix(x, dx, l.FfnXk, "ffn.x_k");
        Tensor k = op.Linear(xk, l.FfnKey, "ffn.key.weight").relu().pow(Two);
        return op.Linear(k, l.FfnValue, "ffn.value.weight");
    }
}
