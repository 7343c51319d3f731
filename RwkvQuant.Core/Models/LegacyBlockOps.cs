using RwkvQuant.Formats;
using static RwkvQuant.Native.TorchScalars;
using TorchSharp;
using static TorchSharp.torch;

namespace RwkvQuant.Models;

/// <summary>
/// Pieces shared by the RWKV-4 and RWKV-5.x networks (beside <see cref="RwkvOps"/>): shape-checked weight loading,
/// the lerp-style token-shift mix (<c>x·μ + x_prev·(1 − μ)</c>) and the squared-ReLU channel mix. Shapes:
/// activations <c>[B, T, C]</c>.
/// </summary>
internal static class LegacyBlockOps
{
    /// <summary>A model tensor as a detached torch tensor of the given shape (the element count must match).</summary>
    public static Tensor Weight(RwkvModel model, string name, params long[] shape)
    {
        TensorData data = model[name];
        long count = shape.Aggregate(1L, (a, b) => a * b);
        if (data.ElementCount != count)
        {
            throw ModelFileError.Create(model.SourcePath ?? "(in memory)", name,
                $"expected {count} values (shape [{string.Join(", ", shape)}]), found shape [{string.Join(", ", data.Shape)}].");
        }
        return RwkvOps.ToTorch(data, shape);
    }

    /// <summary>Time-mix interpolation as rwkv.cpp computes it: <c>x·μ + previous·(1 − μ)</c>.</summary>
    public static Tensor Mix(Tensor x, Tensor previous, Tensor mu, Tensor oneMinusMu) =>
        (x * mu).add(previous * oneMinusMu, One);

    /// <summary>
    /// Channel mix (FFN) of v4/v5: <c>σ(W_r·x_r) ⊙ (W_v · relu(W_k·x_k)²)</c>, with x_k, x_r the token-shift mixes.
    /// </summary>
    public static Tensor ChannelMix(Tensor x, Tensor previous, ChannelMixWeights w, ObservedOps op)
    {
        Tensor xk = op.Lerp(x, previous, w.MixK, w.OneMinusMixK, "ffn.time_mix_k");
        Tensor xr = op.Lerp(x, previous, w.MixR, w.OneMinusMixR, "ffn.time_mix_r");
        Tensor r = torch.sigmoid(op.Linear(xr, w.Receptance, "ffn.receptance.weight"));
        Tensor k = nn.functional.relu(op.Linear(xk, w.Key, "ffn.key.weight")).pow(Two);
        return r * op.Linear(k, w.Value, "ffn.value.weight");
    }

    /// <summary>1 − μ, computed as TorchSharp's <c>1 - μ</c> does: −μ + 1.</summary>
    public static Tensor OneMinus(Tensor mu)
    {
        // In a dispose scope: outside one, −μ is referenced only by the add it is passed to, and in optimised code a
        // collection during that native call can finalize it under libtorch (ConcurrentFinalizationTests crashed in
        // add here when the network was built outside a scope).
        using var scope = torch.NewDisposeScope();
        return mu.negative().add(One, One).MoveToOuterDisposeScope();
    }

    /// <summary>Weights of one v4/v5 channel-mix block.</summary>
    internal sealed class ChannelMixWeights : IDisposable
    {
        public ChannelMixWeights(RwkvModel model, int layer)
        {
            RwkvConfig c = model.Config;
            Prefix = $"blocks.{layer}.";
            string p = Prefix + "ffn.";
            MixK = Weight(model, p + "time_mix_k", c.EmbeddingSize);
            MixR = Weight(model, p + "time_mix_r", c.EmbeddingSize);
            OneMinusMixK = OneMinus(MixK).DetachFromDisposeScope();
            OneMinusMixR = OneMinus(MixR).DetachFromDisposeScope();
            Key = Weight(model, p + "key.weight", c.FeedForwardSize, c.EmbeddingSize);
            Value = Weight(model, p + "value.weight", c.EmbeddingSize, c.FeedForwardSize);
            Receptance = Weight(model, p + "receptance.weight", c.EmbeddingSize, c.EmbeddingSize);
        }

        /// <summary>The block's key prefix, <c>blocks.{i}.</c>.</summary>
        public string Prefix { get; }
        public Tensor MixK { get; }
        public Tensor MixR { get; }
        public Tensor OneMinusMixK { get; }
        public Tensor OneMinusMixR { get; }
        public Tensor Key { get; }          // [F, C]
        public Tensor Value { get; }        // [C, F]
        public Tensor Receptance { get; }   // [C, C]

        public void Dispose()
        {
            foreach (Tensor t in new[] { MixK, MixR, OneMinusMixK, OneMinusMixR, Key, Value, Receptance })
                t.Dispose();
        }
    }
}
