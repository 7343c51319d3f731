using TorchSharp;
using static RwkvQuant.Models.LegacyBlockOps;
using static RwkvQuant.Models.RwkvOps;
using static RwkvQuant.Native.TorchScalars;
using static TorchSharp.torch;

namespace RwkvQuant.Models;

/// <summary>
/// RWKV-5.1 and RWKV-5.2 (float32, TorchSharp, CPU), computed as rwkv.cpp does (<c>rwkv_att_v5</c>,
/// <c>rwkv_wkv_v5</c>, <c>rwkv_ffn</c>). The time mix keeps per head a matrix state S <c>[N, N]</c> (key index i,
/// value index j); per token, with r, k, v split into H heads of N channels:
/// <code>
/// out_j = Σ_i r_i · (u_i · k_i · v_j + S_ij)        S_ij ← w_i · S_ij + k_i · v_j
/// </code>
/// then a group norm over each head (<c>ln_x</c>), for v5.2 a SiLU gate <c>silu(W_g · x_g)</c>, and the output
/// projection. Differences between the two versions (rwkv.cpp's loader tells them apart by <c>att.gate.weight</c>):
/// <list type="bullet">
/// <item>v5.1: u = exp(<c>time_first</c>) and w = exp(−exp(<c>time_decay</c>)), one value per head; no gate.</item>
/// <item>v5.2: u = <c>time_faaaa</c> and w = exp(−exp(<c>time_decay</c>)), one value per channel <c>[H, N]</c>;
/// a fourth token-shift mix <c>time_mix_g</c> feeds the gate.</item>
/// </list>
/// Neither has a sigmoid on r. Both use ggml's group norm epsilon, 1e-5, as rwkv.cpp does (BlinkDL's v5.2 code
/// uses 64e-5, i.e. its training-time division by 8 before a 1e-5 group norm; rwkv.cpp does not reproduce that for
/// v5, and this class matches rwkv.cpp). State per layer, in rwkv.cpp's order: <c>[ffn shift [B, C],
/// att shift [B, C], S [B, H, N, N]]</c>; the empty state is all zeros.
/// </summary>
internal sealed class Rwkv5Network : LegacyRwkvNetwork<Rwkv5Network.Layer>
{
    private const int Heads = 2;

    /// <summary>Epsilon of ggml's <c>ggml_group_norm</c> as rwkv.cpp calls it for v5.</summary>
    internal const double GroupNormEpsilon = 1e-5;

    public Rwkv5Network(RwkvModel model) : base(RequireV5(model), i => new Layer(model, i, model.Config.Version == RwkvVersion.V5_2))
    {
    }

    /// <summary>v5.2's SiLU gate (and its fourth token-shift mix); v5.1 has none.</summary>
    private bool Gated => Config.Version == RwkvVersion.V5_2;

    private static RwkvModel RequireV5(RwkvModel model)
    {
        RwkvConfig c = model.Config;
        if (c.Version is not (RwkvVersion.V5_1 or RwkvVersion.V5_2))
            throw new ArgumentException($"Rwkv5Network needs an RWKV-5.1 or 5.2 model, got {c.Version}.", nameof(model));
        if (c.HeadCount < 1 || c.HeadSize < 1 || c.HeadCount * c.HeadSize != c.EmbeddingSize)
            throw new ArgumentException($"Head count {c.HeadCount} × head size {c.HeadSize} does not make the width {c.EmbeddingSize}.", nameof(model));
        return model;
    }

    public override RwkvState CreateState(int batchSize = 1) => MatrixValuedZeroState(Config, batchSize);

    /// <summary>Time mix of one layer over <c>[B, T, C]</c>; the WKV recurrence loops over T on <c>[B, H, N, N]</c>.</summary>
    protected override Tensor TimeMix(Tensor x, Layer w, RwkvState state, int index, Tensor[] s)
    {
        long batch = x.shape[0], length = x.shape[1], width = x.shape[2];
        long heads = Config.HeadCount, size = Config.HeadSize;
        Tensor previous = Shift(x, s[AttShift]);
        state.Set(index, AttShift, Last(x));
        ObservedOps op = Observe(w.Prefix);
        Tensor xr = op.Lerp(x, previous, w.MixR, w.OneMinusMixR, "att.time_mix_r");
        Tensor xk = op.Lerp(x, previous, w.MixK, w.OneMinusMixK, "att.time_mix_k");
        Tensor xv = op.Lerp(x, previous, w.MixV, w.OneMinusMixV, "att.time_mix_v");
        Tensor r = op.Linear(xr, w.Receptance, "att.receptance.weight").view(batch, length, heads, size);
        Tensor k = op.Linear(xk, w.Key, "att.key.weight").view(batch, length, heads, size);
        Tensor v = op.Linear(xv, w.Value, "att.value.weight").view(batch, length, heads, size);

        Tensor u = w.TimeFirst.unsqueeze(-1);   // [H, N, 1]: scales row i (the key index) of k ⊗ v
        Tensor decay = w.Decay.unsqueeze(-1);   // [H, N, 1]
        Tensor current = s[Heads];              // [B, H, N, N]
        Tensor outputs = torch.empty_like(v);   // [B, T, H, N]
        for (long t = 0; t < length; t++)
        {
            // One scope per step: each step's k ⊗ v is as large as the state, so none may outlive its step.
            Tensor next;
            using (torch.NewDisposeScope())
            {
                Tensor kv = k.select(1, t).unsqueeze(-1) * v.select(1, t).unsqueeze(-2);        // [B, H, N, N]
                outputs.select(1, t).copy_(torch.matmul(r.select(1, t).unsqueeze(-2), (u * kv).add(current, One)).squeeze(-2));
                next = (current * decay).add(kv, One).MoveToOuterDisposeScope();
            }
            if (t > 0)
                current.Dispose();
            current = next;
        }
        state.Set(index, Heads, current);

        Tensor wkv = outputs.reshape(batch * length, width);
        Tensor y = nn.functional.group_norm(wkv, heads, w.LnXWeight, w.LnXBias, GroupNormEpsilon).view(batch, length, width);
        if (Gated)
        {
            Tensor xg = op.Lerp(x, previous, w.MixG!, w.OneMinusMixG!, "att.time_mix_g");
            y = y * nn.functional.silu(op.Linear(xg, w.Gate!, "att.gate.weight"));
        }
        return op.Linear(y, w.Output, "att.output.weight");
    }

    /// <summary>Weights of one block.</summary>
    internal sealed class Layer : LegacyBlock
    {
        public Layer(RwkvModel model, int index, bool gated) : base(model, index)
        {
            int c = model.Config.EmbeddingSize;
            string p = Prefix;
            MixK = Own(Weight(model, p + "att.time_mix_k", c));
            MixV = Own(Weight(model, p + "att.time_mix_v", c));
            MixR = Own(Weight(model, p + "att.time_mix_r", c));
            OneMinusMixK = Own(OneMinus(MixK).DetachFromDisposeScope());
            OneMinusMixV = Own(OneMinus(MixV).DetachFromDisposeScope());
            OneMinusMixR = Own(OneMinus(MixR).DetachFromDisposeScope());
            // w = exp(−exp(time_decay)) and v5.1's u = exp(time_first) in double before rounding, as the
            // converter computes them. The chains run in a dispose scope: outside one, an intermediate is referenced
            // only by the call it is passed to, and in optimised code a collection during that native call can
            // finalize it under libtorch (ConcurrentFinalizationTests crashed in THSTensor_neg here).
            using (torch.NewDisposeScope())
            {
                // HeadVector's tensors are detached (a network's weights outlive scopes), so this scope does not hold
                // them: `using` keeps each alive through the calls that read it.
                using Tensor decay = HeadVector(model, p + "att.time_decay");
                Decay = Own(decay.to(ScalarType.Float64).exp().neg().exp().to(ScalarType.Float32).DetachFromDisposeScope());
                if (gated)
                {
                    TimeFirst = Own(HeadVector(model, p + "att.time_faaaa"));
                }
                else
                {
                    using Tensor first = HeadVector(model, p + "att.time_first");
                    TimeFirst = Own(first.to(ScalarType.Float64).exp().to(ScalarType.Float32).DetachFromDisposeScope());
                }
            }
            Key = Own(Weight(model, p + "att.key.weight", c, c));
            Value = Own(Weight(model, p + "att.value.weight", c, c));
            Receptance = Own(Weight(model, p + "att.receptance.weight", c, c));
            Output = Own(Weight(model, p + "att.output.weight", c, c));
            LnXWeight = Own(Weight(model, p + "att.ln_x.weight", c));
            LnXBias = Own(Weight(model, p + "att.ln_x.bias", c));
            if (gated)
            {
                MixG = Own(Weight(model, p + "att.time_mix_g", c));
                OneMinusMixG = Own(OneMinus(MixG).DetachFromDisposeScope());
                Gate = Own(Weight(model, p + "att.gate.weight", c, c));
            }
        }

        public Tensor MixK { get; }
        public Tensor MixV { get; }
        public Tensor MixR { get; }
        public Tensor OneMinusMixK { get; }
        public Tensor OneMinusMixV { get; }
        public Tensor OneMinusMixR { get; }
        public Tensor? MixG { get; }
        public Tensor? OneMinusMixG { get; }
        public Tensor TimeFirst { get; }   // u [H, N]
        public Tensor Decay { get; }       // w = exp(−exp(time_decay)) [H, N]
        public Tensor Key { get; }
        public Tensor Value { get; }
        public Tensor Receptance { get; }
        public Tensor Output { get; }
        public Tensor? Gate { get; }
        public Tensor LnXWeight { get; }
        public Tensor LnXBias { get; }

        /// <summary>
        /// A per-head parameter as <c>[H, N]</c>: stored with one value per channel (<c>[H, N]</c>, v5.2) or one per
        /// head (<c>[H]</c>, v5.1, repeated over the head's channels as rwkv.cpp's <c>ggml_repeat</c> does). Detached
        /// from every dispose scope, as <see cref="LegacyBlockOps.Weight"/>: the caller owns it.
        /// </summary>
        private static Tensor HeadVector(RwkvModel model, string name)
        {
            RwkvConfig c = model.Config;
            long count = model[name].ElementCount;
            if (count == c.HeadCount)
            {
                using var scope = torch.NewDisposeScope();
                using Tensor perHead = Weight(model, name, c.HeadCount, 1); // detached: the scope does not hold it
                return perHead.expand(c.HeadCount, c.HeadSize).contiguous().DetachFromDisposeScope();
            }
            return Weight(model, name, c.HeadCount, c.HeadSize);
        }
    }
}
