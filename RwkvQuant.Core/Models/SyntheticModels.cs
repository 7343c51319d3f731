using System.Runtime.InteropServices;
using RwkvQuant.Formats;
using RwkvQuant.Formats.Safetensors;

namespace RwkvQuant.Models;

/// <summary>
/// The shape of a released RWKV model, for <see cref="SyntheticModels"/>: version, blocks, width, feed-forward width,
/// vocabulary, head size and the LoRA widths of the data-dependent parts.
/// </summary>
/// <param name="Name">A short name, e.g. <c>rwkv7-0.1b</c>.</param>
/// <param name="Version">V6 or V7.</param>
/// <param name="LayerCount">Blocks (set fewer with <c>with { LayerCount = n }</c> to measure a few real-width blocks).</param>
/// <param name="Width">Residual width C.</param>
/// <param name="FeedForwardSize">Channel-mix hidden width.</param>
/// <param name="VocabularySize">Rows of the embedding and the head.</param>
/// <param name="HeadSize">Channels per head (64 in every released model).</param>
public sealed record SyntheticShape(string Name, RwkvVersion Version, int LayerCount, int Width, int FeedForwardSize, int VocabularySize, int HeadSize = 64)
{
    /// <summary>RWKV-7 decay LoRA width (BlinkDL: max(32, round(1.8·√C / 32)·32)); RWKV-6 decay LoRA width (64, or 128 at C = 4096).</summary>
    public int DecayLora => Version == RwkvVersion.V7 ? Lora(1.8, 0.5) : Width >= 4096 ? 128 : 64;

    /// <summary>RWKV-7 in-context learning rate LoRA width (as <see cref="DecayLora"/>).</summary>
    public int LearningRateLora => Lora(1.8, 0.5);

    /// <summary>RWKV-7 value-residual LoRA width (max(32, round(1.3·√C / 32)·32)).</summary>
    public int ValueLora => Lora(1.3, 0.5);

    /// <summary>RWKV-7 gate LoRA width (max(32, round(0.6·C^0.8 / 32)·32)).</summary>
    public int GateLora => Lora(0.6, 0.8);

    /// <summary>RWKV-6 token-shift LoRA width per mix (32, or 64 at C = 4096).</summary>
    public int MixLora => Width >= 4096 ? 64 : 32;

    /// <summary>The number of parameters.</summary>
    public long ParameterCount => SyntheticModels.Layout(this).Sum(e => e.Shape.Aggregate(1L, (a, b) => a * b));

    private int Lora(double factor, double power) => Math.Max(32, (int)Math.Round(factor * Math.Pow(Width, power) / 32) * 32);
}

/// <summary>
/// Models of the released RWKV-7 World (0.1B–2.9B) and RWKV-6 World (1.6B–14B) shapes with random weights of realistic
/// scale, under BlinkDL's names and layouts: for measuring memory and time at real sizes (never quality — the
/// weights are not trained). Matrices are uniform with standard deviation 1/√in, the embedding 0.02, mix vectors in
/// [0, 1], decay biases in [−6, −1], layer norms near 1. Every tensor has its own seeded stream, so a tensor's values
/// depend only on the seed, its name's position in <see cref="Layout"/> and its shape; the same seed gives the same file.
/// </summary>
public static class SyntheticModels
{
    /// <summary>The released shapes: <c>rwkv7-0.1b, rwkv7-0.4b, rwkv7-1.5b, rwkv7-2.9b, rwkv6-1.6b, rwkv6-3b,
    /// rwkv6-7b, rwkv6-14b</c> (vocabulary 65,536).</summary>
    public static IReadOnlyList<SyntheticShape> Shapes { get; } =
    [
        new("rwkv7-0.1b", RwkvVersion.V7, 12, 768, 3072, 65536),
        new("rwkv7-0.4b", RwkvVersion.V7, 24, 1024, 4096, 65536),
        new("rwkv7-1.5b", RwkvVersion.V7, 24, 2048, 8192, 65536),
        new("rwkv7-2.9b", RwkvVersion.V7, 32, 2560, 10240, 65536),
        new("rwkv6-1.6b", RwkvVersion.V6, 24, 2048, 7168, 65536),
        new("rwkv6-3b", RwkvVersion.V6, 32, 2560, 8960, 65536),
        new("rwkv6-7b", RwkvVersion.V6, 32, 4096, 14336, 65536),
        new("rwkv6-14b", RwkvVersion.V6, 61, 4096, 14336, 65536),
    ];

    /// <summary>The shape named <paramref name="name"/> (case-insensitive).</summary>
    /// <exception cref="ArgumentException">No such shape (the message lists them).</exception>
    public static SyntheticShape Find(string name) =>
        Shapes.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"Unknown model shape '{name}'; the shapes are {string.Join(", ", Shapes.Select(s => s.Name))}.", nameof(name));

    /// <summary>Every tensor of <paramref name="shape"/> with its canonical name and shape, in file order.</summary>
    /// <exception cref="ArgumentException">The shape is not V6 or V7, or its width is not a multiple of the head size.</exception>
    public static IReadOnlyList<SafetensorsEntry> Layout(SyntheticShape shape, TensorDataType type = TensorDataType.F32) =>
        Tensors(shape).Select(t => new SafetensorsEntry(t.Name, type, t.Shape)).ToList();

    /// <summary>The model held in memory as float32 (for shapes that fit; see <see cref="Write"/> for the others).</summary>
    public static RwkvModel Create(SyntheticShape shape, int seed = 1)
    {
        IReadOnlyList<Spec> specs = Tensors(shape);
        var tensors = new TensorData[specs.Count];
        Parallel.For(0, specs.Count, i => tensors[i] = Make(specs[i], i, seed, TensorDataType.F32));
        return new RwkvModel(Config(shape), tensors, $"synthetic {shape.Name}");
    }

    /// <summary>
    /// Writes the model to a safetensors file in <paramref name="type"/> (F16 by default, as released checkpoints are
    /// stored; F32 or BF16), one tensor at a time, so that any shape can be written with little memory. Atomic; on
    /// failure or cancellation no file is left. <paramref name="progress"/> gets the tensors written so far and the total.
    /// </summary>
    public static void Write(SyntheticShape shape, string path, TensorDataType type = TensorDataType.F16, int seed = 1,
        IProgress<(int Done, int Total)>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (type is not (TensorDataType.F32 or TensorDataType.F16 or TensorDataType.BF16))
            throw new ArgumentException($"Models are written as F32, F16 or BF16, not {type}.", nameof(type));
        IReadOnlyList<Spec> specs = Tensors(shape);
        var entries = specs.Select(s => new SafetensorsEntry(s.Name, type, s.Shape)).ToList();
        var metadata = new Dictionary<string, string>
        {
            [ModelMetadata.FormatKey] = ModelMetadata.FullPrecisionFormat,
            ["rwkv_version"] = shape.Version.ToString(),
            ["synthetic"] = $"{shape.Name}, {shape.LayerCount} layers, seed {seed}: random weights of realistic scale, not trained",
        };
        SafetensorsWriter.Write(path, entries, i =>
        {
            TensorData tensor = Make(specs[i], i, seed, type);
            progress?.Report((i + 1, specs.Count));
            return tensor;
        }, metadata, cancellationToken);
    }

    /// <summary>The config a model of <paramref name="shape"/> has.</summary>
    public static RwkvConfig Config(SyntheticShape shape) =>
        new(shape.Version, shape.LayerCount, shape.Width, shape.VocabularySize, shape.Width / shape.HeadSize, shape.HeadSize, shape.FeedForwardSize);

    /// <summary>A tensor's name, shape and value range (uniform in [<paramref name="Low"/>, <paramref name="High"/>]).</summary>
    private sealed record Spec(string Name, long[] Shape, double Low, double High);

    private static TensorData Make(Spec spec, int index, int seed, TensorDataType type)
    {
        long count = spec.Shape.Aggregate(1L, (a, b) => a * b);
        var random = new Random(HashCode.Combine(seed, index, 0x5EED));
        float low = (float)spec.Low, span = (float)(spec.High - spec.Low);
        int size = type.SizeOf();
        var bytes = new byte[count * size];
        switch (type)
        {
            case TensorDataType.F32:
            {
                Span<float> values = MemoryMarshal.Cast<byte, float>(bytes.AsSpan());
                for (int i = 0; i < values.Length; i++)
                    values[i] = low + span * random.NextSingle();
                break;
            }
            case TensorDataType.F16:
            {
                Span<Half> values = MemoryMarshal.Cast<byte, Half>(bytes.AsSpan());
                for (int i = 0; i < values.Length; i++)
                    values[i] = (Half)(low + span * random.NextSingle());
                break;
            }
            default:
                return TensorData.FromFloats(spec.Name, spec.Shape, Make(spec, index, seed, TensorDataType.F32).ToFloatArray()).ConvertTo(type);
        }
        return new TensorData(spec.Name, type, spec.Shape, bytes);
    }

    private static List<Spec> Tensors(SyntheticShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Version is not (RwkvVersion.V6 or RwkvVersion.V7))
            throw new ArgumentException($"Synthetic models are RWKV-6 or RWKV-7, not {shape.Version}.", nameof(shape));
        ArgumentOutOfRangeException.ThrowIfLessThan(shape.LayerCount, 1, nameof(shape));
        ArgumentOutOfRangeException.ThrowIfLessThan(shape.HeadSize, 1, nameof(shape));
        if (shape.Width % shape.HeadSize != 0)
            throw new ArgumentException($"The width {shape.Width} is not a multiple of the head size {shape.HeadSize}.", nameof(shape));
        ArgumentOutOfRangeException.ThrowIfLessThan(shape.FeedForwardSize, 1, nameof(shape));
        ArgumentOutOfRangeException.ThrowIfLessThan(shape.VocabularySize, 1, nameof(shape));

        int c = shape.Width, heads = c / shape.HeadSize, f = shape.FeedForwardSize;
        var specs = new List<Spec>();
        void Add(string name, long[] dimensions, double low, double high) => specs.Add(new Spec(name, dimensions, low, high));
        void Spread(string name, long[] dimensions, double sigma) => Add(name, dimensions, -sigma * Math.Sqrt(3), sigma * Math.Sqrt(3));
        void Matrix(string name, long rows, long columns) => Spread(name, [rows, columns], 1 / Math.Sqrt(columns));   // [out, in]
        void LoRA(string name, long input, long output) => Spread(name, [input, output], 1 / Math.Sqrt(input));      // [in, out]
        void Vector(string name, double low, double high) => Add(name, [1, 1, c], low, high);
        void Norm(string name)
        {
            Add(name + ".weight", [c], 0.9, 1.1);
            Spread(name + ".bias", [c], 0.01);
        }

        Spread("emb.weight", [shape.VocabularySize, c], 0.02);
        Norm("blocks.0.ln0");
        for (int i = 0; i < shape.LayerCount; i++)
        {
            string p = $"blocks.{i}.";
            Norm(p + "ln1");
            Norm(p + "ln2");
            if (shape.Version == RwkvVersion.V7)
            {
                foreach (string mix in new[] { "x_r", "x_w", "x_k", "x_v", "x_a", "x_g" })
                    Vector(p + "att." + mix, 0, 1);
                Vector(p + "att.w0", -6, -1);
                LoRA(p + "att.w1", c, shape.DecayLora);
                LoRA(p + "att.w2", shape.DecayLora, c);
                Spread(p + "att.a0", [1, 1, c], 0.1);
                LoRA(p + "att.a1", c, shape.LearningRateLora);
                LoRA(p + "att.a2", shape.LearningRateLora, c);
                if (i > 0)
                {
                    Vector(p + "att.v0", 0.5, 1.5);
                    LoRA(p + "att.v1", c, shape.ValueLora);
                    LoRA(p + "att.v2", shape.ValueLora, c);
                }
                LoRA(p + "att.g1", c, shape.GateLora);
                LoRA(p + "att.g2", shape.GateLora, c);
                Vector(p + "att.k_k", 0.7, 1);
                Vector(p + "att.k_a", 0.8, 1.2);
                Spread(p + "att.r_k", [heads, shape.HeadSize], 0.1);
                foreach (string projection in new[] { "receptance", "key", "value", "output" })
                    Matrix(p + "att." + projection + ".weight", c, c);
                Norm(p + "att.ln_x");
                Vector(p + "ffn.x_k", 0, 1);
                Matrix(p + "ffn.key.weight", f, c);
                Matrix(p + "ffn.value.weight", c, f);
            }
            else
            {
                foreach (string mix in new[] { "time_maa_x", "time_maa_w", "time_maa_k", "time_maa_v", "time_maa_r", "time_maa_g" })
                    Vector(p + "att." + mix, 0, 1);
                LoRA(p + "att.time_maa_w1", c, 5L * shape.MixLora);
                Spread(p + "att.time_maa_w2", [5, shape.MixLora, c], 1 / Math.Sqrt(shape.MixLora));
                Vector(p + "att.time_decay", -6, -1);
                LoRA(p + "att.time_decay_w1", c, shape.DecayLora);
                LoRA(p + "att.time_decay_w2", shape.DecayLora, c);
                Spread(p + "att.time_faaaa", [heads, shape.HeadSize], 0.3);
                foreach (string projection in new[] { "receptance", "key", "value", "gate", "output" })
                    Matrix(p + "att." + projection + ".weight", c, c);
                Norm(p + "att.ln_x");
                Vector(p + "ffn.time_maa_k", 0, 1);
                Vector(p + "ffn.time_maa_r", 0, 1);
                Matrix(p + "ffn.key.weight", f, c);
                Matrix(p + "ffn.receptance.weight", c, c);
                Matrix(p + "ffn.value.weight", c, f);
            }
        }
        Norm("ln_out");
        Matrix("head.weight", shape.VocabularySize, c);
        return specs;
    }
}
