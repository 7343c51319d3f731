using System.Globalization;
using RwkvQuant.Formats;

namespace RwkvQuant.Models;

/// <summary>
/// Every tensor a canonical RWKV model of a given config must hold, with its shape: the one description of a valid
/// model, checked right after a file's tensors are read (<see cref="RwkvConfigInference"/> runs it for every container),
/// so that a missing, swapped, zero-sized or mis-ranked tensor fails there, naming the file and the tensor, and never
/// later inside a forward pass or a native call. Shapes are compared with their dimensions of size 1 left out: BlinkDL
/// stores vectors as <c>[1, 1, C]</c> and rwkv.cpp as <c>[C]</c>, and both mean the same. The inner sizes of the
/// low-rank (LoRA) matrices of RWKV-6 and RWKV-7 are read from the first matrix of each pair and required of the second.
/// Tensors the model does not use are allowed.
/// </summary>
internal static class RwkvModelSchema
{
    /// <summary>Checks <paramref name="shapes"/> (canonical names) against <paramref name="config"/>.</summary>
    /// <exception cref="InvalidDataException">A tensor is missing or has the wrong shape; the message names
    /// <paramref name="source"/> and the tensor.</exception>
    public static void Check(RwkvConfig config, IReadOnlyDictionary<string, IReadOnlyList<long>> shapes, string source)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(shapes);
        long c = config.EmbeddingSize, v = config.VocabularySize, f = config.FeedForwardSize;
        if (v < 1 || c < 1)
            throw ModelFileError.Create(source, "emb.weight", $"the embedding is [{v}, {c}]; both sizes must be at least 1.");
        if (f < 1)
            throw ModelFileError.Create(source, "blocks.0.ffn.key.weight", $"the feed-forward size is {f}; it must be at least 1.");

        var check = new Checker(shapes, source);
        check.Expect("emb.weight", v, c);
        check.Expect("blocks.0.ln0.weight", c);
        check.Expect("blocks.0.ln0.bias", c);
        check.Expect("ln_out.weight", c);
        check.Expect("ln_out.bias", c);
        check.Expect("head.weight", v, c);
        for (int i = 0; i < config.LayerCount; i++)
        {
            string p = string.Create(CultureInfo.InvariantCulture, $"blocks.{i}.");
            foreach (string norm in (string[])["ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias"])
                check.Expect(p + norm, c);
            switch (config.Version)
            {
                case RwkvVersion.V7: V7(check, config, p, first: i == 0); break;
                case RwkvVersion.V6: V6(check, config, p); break;
                default: Legacy(check, config, p); break;
            }
        }
    }

    private static void V7(Checker check, RwkvConfig config, string p, bool first)
    {
        long c = config.EmbeddingSize;
        foreach (string mix in (string[])["x_r", "x_w", "x_k", "x_v", "x_a", "x_g", "w0", "a0", "k_k", "k_a"])
            check.Expect(p + "att." + mix, c);
        foreach (string lora in first ? (string[])["w", "a", "g"] : ["w", "a", "v", "g"])
        {
            long inner = check.Inner(p + "att." + lora + "1", c);
            check.Expect(p + "att." + lora + "2", inner, c);
        }
        if (!first)
            check.Expect(p + "att.v0", c);
        check.Expect(p + "att.r_k", config.HeadCount, config.HeadSize);
        SquareAttention(check, c, p, "receptance", "key", "value", "output");
        check.Expect(p + "att.ln_x.weight", c);
        check.Expect(p + "att.ln_x.bias", c);
        check.Expect(p + "ffn.x_k", c);
        check.Expect(p + "ffn.key.weight", config.FeedForwardSize, c);
        check.Expect(p + "ffn.value.weight", c, config.FeedForwardSize);
    }

    private static void V6(Checker check, RwkvConfig config, string p)
    {
        long c = config.EmbeddingSize;
        foreach (string mix in (string[])["time_maa_x", "time_maa_w", "time_maa_k", "time_maa_v", "time_maa_r", "time_maa_g", "time_decay"])
            check.Expect(p + "att." + mix, c);
        // time_maa_w1 [C, 5·D] holds the five mixes' LoRA inputs side by side; time_maa_w2 [5, D, C] their outputs.
        long mixInner = check.Inner(p + "att.time_maa_w1", c);
        if (mixInner % 5 != 0)
            throw check.Error(p + "att.time_maa_w1", $"its {mixInner} columns are not five equal LoRA slices.");
        check.Expect(p + "att.time_maa_w2", 5, mixInner / 5, c);
        long decayInner = check.Inner(p + "att.time_decay_w1", c);
        check.Expect(p + "att.time_decay_w2", decayInner, c);
        check.Expect(p + "att.time_faaaa", config.HeadCount, config.HeadSize);
        SquareAttention(check, c, p, "receptance", "key", "value", "gate", "output");
        check.Expect(p + "att.ln_x.weight", c);
        check.Expect(p + "att.ln_x.bias", c);
        ChannelMix(check, config, p, "time_maa_k", "time_maa_r");
    }

    /// <summary>RWKV-4 and RWKV-5: time-mix vectors, the decay and bonus (per channel, or per head in v5), square
    /// attention matrices (v5.2 with a gate), v5's group norm, and the channel mix with its receptance.</summary>
    private static void Legacy(Checker check, RwkvConfig config, string p)
    {
        long c = config.EmbeddingSize;
        bool v5 = config.Version is RwkvVersion.V5_1 or RwkvVersion.V5_2, gated = config.Version == RwkvVersion.V5_2;
        foreach (string mix in gated ? (string[])["time_mix_k", "time_mix_v", "time_mix_r", "time_mix_g"] : ["time_mix_k", "time_mix_v", "time_mix_r"])
            check.Expect(p + "att." + mix, c);
        string bonus = gated ? "time_faaaa" : "time_first";
        if (v5)
        {
            check.ExpectEither(p + "att.time_decay", [config.HeadCount], [config.HeadCount, config.HeadSize]);
            check.ExpectEither(p + "att." + bonus, [config.HeadCount], [config.HeadCount, config.HeadSize]);
            check.Expect(p + "att.ln_x.weight", c);
            check.Expect(p + "att.ln_x.bias", c);
        }
        else
        {
            check.Expect(p + "att.time_decay", c);
            check.Expect(p + "att.time_first", c);
        }
        SquareAttention(check, c, p, gated ? ["receptance", "key", "value", "gate", "output"] : ["receptance", "key", "value", "output"]);
        ChannelMix(check, config, p, "time_mix_k", "time_mix_r");
    }

    private static void SquareAttention(Checker check, long c, string p, params string[] names)
    {
        foreach (string name in names)
            check.Expect(p + "att." + name + ".weight", c, c);
    }

    private static void ChannelMix(Checker check, RwkvConfig config, string p, string mixK, string mixR)
    {
        long c = config.EmbeddingSize;
        check.Expect(p + "ffn." + mixK, c);
        check.Expect(p + "ffn." + mixR, c);
        check.Expect(p + "ffn.key.weight", config.FeedForwardSize, c);
        check.Expect(p + "ffn.receptance.weight", c, c);
        check.Expect(p + "ffn.value.weight", c, config.FeedForwardSize);
    }

    private sealed class Checker(IReadOnlyDictionary<string, IReadOnlyList<long>> shapes, string source)
    {
        /// <summary>Requires <paramref name="name"/> with shape <paramref name="dimensions"/> (sizes of 1 left out).</summary>
        public void Expect(string name, params long[] dimensions) => ExpectEither(name, dimensions, dimensions);

        /// <summary>Requires <paramref name="name"/> with one of two shapes (sizes of 1 left out).</summary>
        public void ExpectEither(string name, long[] one, long[] other)
        {
            IReadOnlyList<long> shape = Find(name);
            long[] actual = Squeeze(shape);
            if (actual.SequenceEqual(Squeeze(one)) || actual.SequenceEqual(Squeeze(other)))
                return;
            string expected = one.SequenceEqual(other) ? Describe(one) : $"{Describe(one)} or {Describe(other)}";
            throw Error(name, $"expected shape {expected}, found {Describe(shape)}.");
        }

        /// <summary>The inner size D of a LoRA input matrix <paramref name="name"/> of shape <c>[rows, D]</c>.</summary>
        public long Inner(string name, long rows)
        {
            IReadOnlyList<long> shape = Find(name);
            long count = shape.Aggregate(1L, (a, b) => a * b);
            if (count == 0 || count % rows != 0)
                throw Error(name, $"expected shape [{rows}, D] with D ≥ 1, found {Describe(shape)}.");
            Expect(name, rows, count / rows);
            return count / rows;
        }

        public InvalidDataException Error(string name, string message) => ModelFileError.Create(source, name, message);

        private IReadOnlyList<long> Find(string name) =>
            shapes.TryGetValue(name, out IReadOnlyList<long>? shape) ? shape : throw Error(name, "tensor is missing.");

        private static long[] Squeeze(IEnumerable<long> shape) => [.. shape.Where(d => d != 1)];

        private static string Describe(IEnumerable<long> shape) =>
            "[" + string.Join(", ", shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + "]";
    }
}
