using TorchSharp;
using static RwkvQuant.Models.LegacyBlockOps;
using static RwkvQuant.Models.RwkvOps;
using static RwkvQuant.Native.TorchScalars;
using static TorchSharp.torch;

namespace RwkvQuant.Models;

/// <summary>
/// RWKV-4 (float32, TorchSharp, CPU), computed as rwkv.cpp does (<c>rwkv_graph.inc</c>: <c>rwkv_att</c>,
/// <c>rwkv_att_wkv</c>, <c>rwkv_ffn</c>). Per layer: <c>x += TimeMix(LN1(x))</c>, <c>x += ChannelMix(LN2(x))</c>.
/// The time mix keeps per channel the numerically stable WKV state (aa, bb, pp): the numerator and denominator
/// of the decayed weighted average of past values, both scaled by <c>exp(−pp)</c> where pp tracks the largest
/// exponent seen, so nothing overflows:
/// <code>
/// ww = u + k_t;  q = max(pp, ww);  wkv_t = (e^(pp−q)·aa + e^(ww−q)·v_t) / (e^(pp−q)·bb + e^(ww−q))
/// ww = pp + w;   q = max(ww, k_t); aa = e^(ww−q)·aa + e^(k_t−q)·v_t;  bb = e^(ww−q)·bb + e^(k_t−q);  pp = q
/// </code>
/// with u = <c>time_first</c> and w = −exp(<c>time_decay</c>). State per layer, in rwkv.cpp's order:
/// <c>[ffn shift, att shift, aa, bb, pp]</c>, each <c>[B, C]</c>; the empty state has pp = −1e30.
/// </summary>
internal sealed class Rwkv4Network : LegacyRwkvNetwork<Rwkv4Network.Layer>
{
    private const int StateA = 2;
    private const int StateB = 3;
    private const int StateP = 4;

    /// <summary>The "minus infinity" rwkv.cpp puts in pp of an empty state.</summary>
    private static readonly TorchSharp.Scalar EmptyExponent = (-1e30f).ToScalar();

    public Rwkv4Network(RwkvModel model) : base(RequireV4(model), i => new Layer(model, i))
    {
    }

    private static RwkvModel RequireV4(RwkvModel model) =>
        model.Config.Version == RwkvVersion.V4
            ? model
            : throw new ArgumentException($"Rwkv4Network needs an RWKV-4 model, got {model.Config.Version}.", nameof(model));

    public override RwkvState CreateState(int batchSize = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        long c = Config.EmbeddingSize;
        var layers = new Tensor[Config.LayerCount][];
        for (int i = 0; i < layers.Length; i++)
        {
            layers[i] =
            [
                torch.zeros(batchSize, c).DetachFromDisposeScope(),
                torch.zeros(batchSize, c).DetachFromDisposeScope(),
                torch.zeros(batchSize, c).DetachFromDisposeScope(),
                torch.zeros(batchSize, c).DetachFromDisposeScope(),
                torch.full(batchSize, c, EmptyExponent).DetachFromDisposeScope(),
            ];
        }
        return new RwkvState(batchSize, layers);
    }

    /// <summary>Time mix of one layer over <c>[B, T, C]</c>; the WKV recurrence loops over T on <c>[B, C]</c>.</summary>
    protected override Tensor TimeMix(Tensor x, Layer w, RwkvState state, int index, Tensor[] s)
    {
        ObservedOps op = Observe(w.Prefix);
        Tensor previous = Shift(x, s[AttShift]);
        state.Set(index, AttShift, Last(x));
        Tensor xr = op.Lerp(x, previous, w.MixR, w.OneMinusMixR, "att.time_mix_r");
        Tensor xk = op.Lerp(x, previous, w.MixK, w.OneMinusMixK, "att.time_mix_k");
        Tensor xv = op.Lerp(x, previous, w.MixV, w.OneMinusMixV, "att.time_mix_v");
        Tensor r = torch.sigmoid(op.Linear(xr, w.Receptance, "att.receptance.weight"));
        Tensor k = op.Linear(xk, w.Key, "att.key.weight");
        Tensor v = op.Linear(xv, w.Value, "att.value.weight");

        Tensor aa = s[StateA], bb = s[StateB], pp = s[StateP];
        long length = x.shape[1];
        Tensor wkv = torch.empty_like(v);
        for (long t = 0; t < length; t++)
        {
            // One scope per step so that a long sequence does not keep every step's temporaries alive.
            Tensor a, b, p;
            using (torch.NewDisposeScope())
            {
                Tensor kt = k.select(1, t), vt = v.select(1, t);
                Tensor ww = w.TimeFirst.add(kt, One);
                Tensor q = torch.maximum(pp, ww);
                Tensor e1 = torch.exp(pp - q);
                Tensor e2 = torch.exp(ww - q);
                wkv.select(1, t).copy_((e1 * aa).add(e2 * vt, One) / (e1 * bb).add(e2, One));

                ww = pp.add(w.Decay, One);
                q = torch.maximum(ww, kt);
                e1 = torch.exp(ww - q);
                e2 = torch.exp(kt - q);
                a = (e1 * aa).add(e2 * vt, One).MoveToOuterDisposeScope();
                b = (e1 * bb).add(e2, One).MoveToOuterDisposeScope();
                p = q.MoveToOuterDisposeScope();
            }
            if (t > 0)
            {
                aa.Dispose();
                bb.Dispose();
                pp.Dispose();
            }
            (aa, bb, pp) = (a, b, p);
        }
        state.Set(index, StateA, aa);
        state.Set(index, StateB, bb);
        state.Set(index, StateP, pp);
        return op.Linear(r * wkv, w.Output, "att.output.weight");
    }

    /// <summary>Weights of one block.</summary>
    internal sealed class Layer : LegacyBlock
    {
        public Layer(RwkvModel model, int index) : base(model, index)
        {
            int c = model.Config.EmbeddingSize;
            string p = Prefix;
            MixK = Own(Weight(model, p + "att.time_mix_k", c));
            MixV = Own(Weight(model, p + "att.time_mix_v", c));
            MixR = Own(Weight(model, p + "att.time_mix_r", c));
            OneMinusMixK = Own(OneMinus(MixK).DetachFromDisposeScope());
            OneMinusMixV = Own(OneMinus(MixV).DetachFromDisposeScope());
            OneMinusMixR = Own(OneMinus(MixR).DetachFromDisposeScope());
            TimeFirst = Own(Weight(model, p + "att.time_first", c));
            // w = −exp(time_decay), in double before rounding, as the converter computes it.
            using (var scope = NewDisposeScope())
            {
                using Tensor decay = Weight(model, p + "att.time_decay", c); // detached: the scope does not hold it
                Decay = Own(decay.to(ScalarType.Float64).exp().neg().to(ScalarType.Float32).DetachFromDisposeScope());
            }
            Key = Own(Weight(model, p + "att.key.weight", c, c));
            Value = Own(Weight(model, p + "att.value.weight", c, c));
            Receptance = Own(Weight(model, p + "att.receptance.weight", c, c));
            Output = Own(Weight(model, p + "att.output.weight", c, c));
        }

        public Tensor MixK { get; }
        public Tensor MixV { get; }
        public Tensor MixR { get; }
        public Tensor OneMinusMixK { get; }
        public Tensor OneMinusMixV { get; }
        public Tensor OneMinusMixR { get; }
        public Tensor TimeFirst { get; }   // u [C]
        public Tensor Decay { get; }       // w = −exp(time_decay) [C]
        public Tensor Key { get; }
        public Tensor Value { get; }
        public Tensor Receptance { get; }
        public Tensor Output { get; }
    }
}
