using RwkvQuant.Formats;
using RwkvQuant.Models;
using TorchSharp;
using static RwkvQuant.Models.RwkvOps;
using static RwkvQuant.Native.TorchScalars;
using static TorchSharp.torch;

namespace RwkvQuant.Training;

/// <summary>
/// A byte-level RWKV-7 whose parameters are trainable torch tensors: exactly the tensors (canonical BlinkDL names and
/// shapes) and the math of <see cref="Rwkv7Network"/>, written with autograd-friendly operations (the WKV recurrence
/// in chunks, <see cref="TrainingWkv"/>; every sequence from the zero state). Initialised as BlinkDL's RWKV-7 trainer
/// (<c>RWKV-LM/RWKV-v7/train_temp/src/model.py</c>) does, from a seed. Owns its tensors.
/// </summary>
internal sealed class Rwkv7TrainingModel : IDisposable
{
    private readonly SortedDictionary<string, Tensor> _parameters;

    private Rwkv7TrainingModel(RwkvConfig config, SortedDictionary<string, Tensor> parameters)
    {
        Config = config;
        _parameters = parameters;
    }

    /// <summary>The architecture (version 7, vocabulary 256 for bytes).</summary>
    public RwkvConfig Config { get; }

    /// <summary>The parameters by canonical name, in ordinal name order (the optimizer's order).</summary>
    public IReadOnlyDictionary<string, Tensor> Parameters => _parameters;

    /// <summary>Number of scalar parameters.</summary>
    public long ParameterCount => _parameters.Values.Sum(p => p.numel());

    /// <summary>The config of a byte-level RWKV-7 with <paramref name="layers"/> blocks of width <paramref name="width"/>.</summary>
    public static RwkvConfig ConfigFor(int layers, int width, int headSize, int vocabulary = 256) =>
        new(RwkvVersion.V7, layers, width, vocabulary, width / headSize, headSize, 4 * width);

    /// <summary>BlinkDL's LoRA rank suggestion max(32, round(factor·C^power / 32)·32).</summary>
    internal static int LoraRank(int width, double factor, double power) =>
        Math.Max(32, (int)Math.Round(factor * Math.Pow(width, power) / 32, MidpointRounding.ToEven) * 32);

    /// <summary>A freshly initialised model; the same seed gives the same weights.</summary>
    public static Rwkv7TrainingModel Initialize(RwkvConfig config, long seed)
    {
        ArgumentNullException.ThrowIfNull(config);
        int c = config.EmbeddingSize, layers = config.LayerCount, v = config.VocabularySize;
        int h = config.HeadCount, n = config.HeadSize;
        var generator = new Generator(unchecked((ulong)seed));
        var p = new SortedDictionary<string, Tensor>(StringComparer.Ordinal);
        using (var scope = NewDisposeScope())
        {
            void Set(string name, Tensor value) => p[name] = value.to_type(ScalarType.Float32).contiguous().MoveToOuterDisposeScope();
            Tensor Uniform(long rows, long cols, double bound)
            {
                using var boundScalar = bound.ToScalar();
                return rand([rows, cols], generator: generator).mul(Two).sub(One).mul(boundScalar);
            }
            Tensor Full(long[] shape, double value)
            {
                using var valueScalar = value.ToScalar();
                return full(shape, valueScalar);
            }
            Tensor Orthogonal(long rows, long cols, double scale)
            {
                // torch.nn.init.orthogonal_ with BlinkDL's gain √(rows/cols) when rows > cols
                double gain = rows > cols ? Math.Sqrt((double)rows / cols) : 1.0;
                Tensor a = randn([Math.Max(rows, cols), Math.Min(rows, cols)], generator: generator);
                (Tensor q, Tensor r) = linalg.qr(a);
                q = q * r.diagonal().sign();
                if (rows < cols)
                    q = q.t();
                using var factor = (gain * scale).ToScalar();
                return q.mul(factor);
            }
            Tensor Channels(Func<int, double> value) => tensor(Enumerable.Range(0, c).Select(i => (float)value(i)).ToArray());
            Tensor Vector(Func<int, double> value) => Channels(value).reshape(1, 1, c);

            Set("emb.weight", Uniform(v, c, 1e-4));
            Set("blocks.0.ln0.weight", ones(c));
            Set("blocks.0.ln0.bias", zeros(c));
            int dDecay = LoraRank(c, 1.8, 0.5), dA = LoraRank(c, 1.8, 0.5), dV = LoraRank(c, 1.3, 0.5), dGate = LoraRank(c, 0.6, 0.8);
            for (int i = 0; i < layers; i++)
            {
                string b = $"blocks.{i}.";
                double ratio0To1 = layers > 1 ? (double)i / (layers - 1) : 0.0;
                double ratio1ToAlmost0 = 1.0 - (double)i / layers;
                Set(b + "ln1.weight", ones(c));
                Set(b + "ln1.bias", zeros(c));
                Set(b + "ln2.weight", ones(c));
                Set(b + "ln2.bias", zeros(c));

                double Ddd(int j) => (double)j / c;
                Set(b + "att.x_r", Vector(j => 1 - Math.Pow(Ddd(j), 0.2 * ratio1ToAlmost0)));
                Set(b + "att.x_w", Vector(j => 1 - Math.Pow(Ddd(j), 0.9 * ratio1ToAlmost0)));
                Set(b + "att.x_k", Vector(j => 1 - Math.Pow(Ddd(j), 0.7 * ratio1ToAlmost0)));
                Set(b + "att.x_v", Vector(j => 1 - Math.Pow(Ddd(j), 0.7 * ratio1ToAlmost0)));
                Set(b + "att.x_a", Vector(j => 1 - Math.Pow(Ddd(j), 0.9 * ratio1ToAlmost0)));
                Set(b + "att.x_g", Vector(j => 1 - Math.Pow(Ddd(j), 0.2 * ratio1ToAlmost0)));

                double Linear(int j) => (double)j / (c - 1) - 0.5;
                double Zigzag(int j)
                {
                    double z = ((j % n) - (n - 1) / 2.0) / ((n - 1) / 2.0);
                    return z * Math.Abs(z);
                }
                double Www(int j) => -6 + 6 * Math.Pow((double)j / (c - 1), 1 + 1 * Math.Pow(ratio0To1, 0.3));
                Set(b + "att.w0", Vector(j => Www(j) + 0.5 + Zigzag(j) * 2.5));
                Set(b + "att.w1", zeros(c, dDecay));
                Set(b + "att.w2", Orthogonal(dDecay, c, 0.1));
                Set(b + "att.a0", Vector(j => -0.19 + Zigzag(j) * 0.3 + Linear(j) * 0.4));
                Set(b + "att.a1", zeros(c, dA));
                Set(b + "att.a2", Orthogonal(dA, c, 0.1));
                if (i > 0)
                {
                    Set(b + "att.v0", Vector(j => 0.73 - Linear(j) * 0.4));
                    Set(b + "att.v1", zeros(c, dV));
                    Set(b + "att.v2", Orthogonal(dV, c, 0.1));
                }
                Set(b + "att.g1", zeros(c, dGate));
                Set(b + "att.g2", Orthogonal(dGate, c, 0.1));
                Set(b + "att.k_k", Vector(j => 0.71 - Linear(j) * 0.1));
                Set(b + "att.k_a", Vector(_ => 1.02));
                Set(b + "att.r_k", Full([h, n], -0.04));
                double bound = 1 / Math.Sqrt(c);
                Set(b + "att.receptance.weight", Uniform(c, c, 0.5 * bound));
                Set(b + "att.key.weight", Uniform(c, c, 0.05 * bound));
                Set(b + "att.value.weight", Uniform(c, c, 0.5 * bound));
                Set(b + "att.output.weight", zeros(c, c));
                Set(b + "att.ln_x.weight", Full([c], Math.Pow((1.0 + i) / layers, 0.7)));
                Set(b + "att.ln_x.bias", zeros(c));

                Set(b + "ffn.x_k", Vector(j => 1 - Math.Pow(Ddd(j), Math.Pow(ratio1ToAlmost0, 4))));
                Set(b + "ffn.key.weight", Uniform(config.FeedForwardSize, c, 0.5 * bound));
                Set(b + "ffn.value.weight", zeros(c, config.FeedForwardSize));
            }
            Set("ln_out.weight", ones(c));
            Set("ln_out.bias", zeros(c));
            Set("head.weight", Orthogonal(v, c, v > c ? 0.5 * Math.Sqrt((double)v / c) : 0.5));
        }
        generator.Dispose();
        foreach (Tensor t in p.Values)
            t.requires_grad_(true);
        return new Rwkv7TrainingModel(config, p);
    }

    /// <summary>A trainable copy of <paramref name="model"/>'s tensors (an RWKV-7 in canonical form).</summary>
    /// <exception cref="ArgumentException">The model is not RWKV-7.</exception>
    public static Rwkv7TrainingModel FromModel(RwkvModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Config.Version != RwkvVersion.V7)
            throw new ArgumentException($"Only RWKV-7 models can be trained; this one is {model.Config.Version}.", nameof(model));
        var p = new SortedDictionary<string, Tensor>(StringComparer.Ordinal);
        foreach ((string name, TensorData data) in model.Tensors)
        {
            Tensor parameter = ToTorch(data);
            parameter.requires_grad_(true);
            p[name] = parameter;
        }
        return new Rwkv7TrainingModel(model.Config, p);
    }

    /// <summary>The current weights as an immutable canonical model (float32).</summary>
    public RwkvModel ToModel(string? sourcePath = null)
    {
        var tensors = new List<TensorData>(_parameters.Count);
        foreach ((string name, Tensor value) in _parameters)
            tensors.Add(TrainingCheckpoint.ToData(name, value));
        return new RwkvModel(Config, tensors, sourcePath);
    }

    /// <summary>
    /// Logits <c>[B, T, V]</c> of int64 tokens <c>[B, T]</c>, every sequence from the zero state, with autograd
    /// (call under <c>no_grad</c> for evaluation). The same function as <see cref="Rwkv7Network"/>'s sequence mode.
    /// </summary>
    public Tensor Forward(Tensor tokens)
    {
        using var scope = NewDisposeScope();
        long batch = tokens.shape[0], steps = tokens.shape[1];
        int c = Config.EmbeddingSize;
        Tensor zeroShift = zeros(batch, c);
        Tensor x = P("emb.weight").index_select(0, tokens.reshape(-1)).reshape(batch, steps, -1); // [B, T, C]
        x = LayerNorm(x, P("blocks.0.ln0.weight"), P("blocks.0.ln0.bias"));
        Tensor? vFirst = null;
        for (int i = 0; i < Config.LayerCount; i++)
        {
            Rwkv7Layer l = LayerAt(i);
            var unobserved = new ObservedOps(null, l.Prefix);
            Tensor xa = LayerNorm(x, l.Ln1Weight, l.Ln1Bias);
            x = x.add(Rwkv7Block.TimeMix(l, Config, unobserved, xa, zeroShift, ref vFirst, TrainingWkv.Chunked), One);
            Tensor xf = LayerNorm(x, l.Ln2Weight, l.Ln2Bias);
            x = x.add(Rwkv7Block.ChannelMix(l, unobserved, xf, zeroShift), One);
        }
        x = LayerNorm(x, P("ln_out.weight"), P("ln_out.bias"));
        return RwkvOps.Linear(x, P("head.weight")).MoveToOuterDisposeScope(); // [B, T, V]
    }

    private Tensor P(string name) => _parameters[name];

    /// <summary>A [1, 1, C] vector parameter as [C] (how <see cref="Rwkv7Network"/> holds it).</summary>
    private Tensor V(string name) => _parameters[name].reshape(Config.EmbeddingSize);

    /// <summary>Block <paramref name="i"/>'s parameters as the layer record <see cref="Rwkv7Block"/> computes with
    /// (views of the parameters, so gradients reach them).</summary>
    private Rwkv7Layer LayerAt(int i)
    {
        string b = $"blocks.{i}.";
        bool first = i == 0;
        return new Rwkv7Layer(b,
            P(b + "ln1.weight"), P(b + "ln1.bias"), P(b + "ln2.weight"), P(b + "ln2.bias"),
            V(b + "att.x_r"), V(b + "att.x_w"), V(b + "att.x_k"), V(b + "att.x_v"), V(b + "att.x_a"), V(b + "att.x_g"),
            V(b + "att.w0"), P(b + "att.w1"), P(b + "att.w2"), V(b + "att.a0"), P(b + "att.a1"), P(b + "att.a2"),
            first ? null : V(b + "att.v0"), first ? null : P(b + "att.v1"), first ? null : P(b + "att.v2"),
            P(b + "att.g1"), P(b + "att.g2"),
            V(b + "att.k_k"), V(b + "att.k_a"), V(b + "att.r_k"),
            P(b + "att.receptance.weight"), P(b + "att.key.weight"), P(b + "att.value.weight"), P(b + "att.output.weight"),
            P(b + "att.ln_x.weight"), P(b + "att.ln_x.bias"),
            V(b + "ffn.x_k"), P(b + "ffn.key.weight"), P(b + "ffn.value.weight"));
    }

    public void Dispose()
    {
        foreach (Tensor t in _parameters.Values)
            t.Dispose();
        _parameters.Clear();
    }
}
