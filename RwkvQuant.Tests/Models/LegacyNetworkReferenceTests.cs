using RwkvQuant.Formats;
using RwkvQuant.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.Models;

/// <summary>
/// Holds the v4 and v5.x networks to naive double-precision twins written straight from the formulas (v4's WKV as
/// the plain weighted average, without the max-tracking that keeps the network's form stable), on small random
/// models of odd sizes. Needs no fixtures.
/// </summary>
public class LegacyNetworkReferenceTests
{
    private const int Vocabulary = 11, Width = 12, Heads = 3, HeadSize = 4, FeedForward = 20, Layers = 2;

    [Theory]
    [InlineData(RwkvVersion.V4)]
    [InlineData(RwkvVersion.V5_1)]
    [InlineData(RwkvVersion.V5_2)]
    public void Network_matches_the_naive_reference(RwkvVersion version)
    {
        RwkvModel model = RandomModel(version, seed: 7 + (int)version);
        long[][] sequences = [[3, 1, 4, 1, 5], [9, 2, 6, 5, 10]];
        using RwkvNetwork network = RwkvNetwork.Create(model);
        using var scope = torch.NewDisposeScope();
        Tensor logits = network.Forward(torch.tensor(sequences.SelectMany(s => s).ToArray(), [2, 5]));
        for (int b = 0; b < 2; b++)
        {
            double[][] expected = Reference(model, sequences[b]);
            for (int t = 0; t < 5; t++)
            {
                float[] actual = logits[b, t].data<float>().ToArray();
                for (int v = 0; v < Vocabulary; v++)
                    Assert.True(Math.Abs(actual[v] - expected[t][v]) < 1e-4, $"b {b} t {t} v {v}: {actual[v]} vs {expected[t][v]}");
            }
        }
    }

    [Fact]
    public void Rejects_tokens_of_the_wrong_rank_and_a_state_of_the_wrong_batch()
    {
        using RwkvNetwork network = RwkvNetwork.Create(RandomModel(RwkvVersion.V5_2, seed: 1));
        using var scope = torch.NewDisposeScope();
        Assert.Throws<ArgumentException>(() => network.Forward(torch.tensor(new long[] { 1, 2 })));
        using RwkvState state = network.CreateState(3);
        Assert.Throws<ArgumentException>(() => network.Forward(torch.tensor(new long[] { 1, 2 }, [2, 1]), state));
        Assert.Throws<ArgumentException>(() => network.ForwardStep(torch.tensor(new long[] { 1, 2 }, [1, 2]), state));
    }

    private static RwkvModel RandomModel(RwkvVersion version, int seed)
    {
        var random = new Random(seed);
        var tensors = new List<TensorData>();
        void Add(string name, long[] shape, double low, double high)
        {
            var values = new float[shape.Aggregate(1L, (a, b) => a * b)];
            for (int i = 0; i < values.Length; i++)
                values[i] = (float)(low + (high - low) * random.NextDouble());
            tensors.Add(TensorData.FromFloats(name, shape, values));
        }
        double scale = 1 / Math.Sqrt(Width);
        Add("emb.weight", [Vocabulary, Width], -1, 1);
        Add("blocks.0.ln0.weight", [Width], 0.5, 1.5);
        Add("blocks.0.ln0.bias", [Width], -0.2, 0.2);
        for (int i = 0; i < Layers; i++)
        {
            string p = $"blocks.{i}.";
            foreach (string ln in new[] { "ln1", "ln2" })
            {
                Add(p + ln + ".weight", [Width], 0.5, 1.5);
                Add(p + ln + ".bias", [Width], -0.2, 0.2);
            }
            foreach (string mix in version == RwkvVersion.V5_2 ? new[] { "k", "v", "r", "g" } : ["k", "v", "r"])
                Add(p + "att.time_mix_" + mix, [1, 1, Width], 0, 1);
            foreach (string matrix in version == RwkvVersion.V5_2 ? new[] { "key", "value", "receptance", "output", "gate" } : ["key", "value", "receptance", "output"])
                Add(p + "att." + matrix + ".weight", [Width, Width], -2 * scale, 2 * scale);
            switch (version)
            {
                case RwkvVersion.V4:
                    Add(p + "att.time_decay", [Width], -2, 1);
                    Add(p + "att.time_first", [Width], -1, 1);
                    break;
                case RwkvVersion.V5_1:
                    Add(p + "att.time_decay", [Heads], -2, 1);
                    Add(p + "att.time_first", [Heads], -1, 1);
                    break;
                default:
                    Add(p + "att.time_decay", [Heads, HeadSize], -2, 1);
                    Add(p + "att.time_faaaa", [Heads, HeadSize], -1, 1);
                    break;
            }
            if (version != RwkvVersion.V4)
            {
                Add(p + "att.ln_x.weight", [Width], 0.5, 1.5);
                Add(p + "att.ln_x.bias", [Width], -0.2, 0.2);
            }
            Add(p + "ffn.time_mix_k", [1, 1, Width], 0, 1);
            Add(p + "ffn.time_mix_r", [1, 1, Width], 0, 1);
            Add(p + "ffn.key.weight", [FeedForward, Width], -2 * scale, 2 * scale);
            Add(p + "ffn.value.weight", [Width, FeedForward], -2 * scale, 2 * scale);
            Add(p + "ffn.receptance.weight", [Width, Width], -2 * scale, 2 * scale);
        }
        Add("ln_out.weight", [Width], 0.5, 1.5);
        Add("ln_out.bias", [Width], -0.2, 0.2);
        Add("head.weight", [Vocabulary, Width], -scale, scale);
        int heads = version == RwkvVersion.V4 ? 1 : Heads, headSize = version == RwkvVersion.V4 ? 1 : HeadSize;
        return new RwkvModel(new RwkvConfig(version, Layers, Width, Vocabulary, heads, headSize, FeedForward), tensors);
    }

    /// <summary>Logits <c>[T][V]</c> of one sequence from an empty state, in double precision, straight from the formulas.</summary>
    private static double[][] Reference(RwkvModel model, long[] tokens)
    {
        RwkvVersion version = model.Config.Version;
        double[] W(string name) => model[name].ToFloatArray().Select(f => (double)f).ToArray();
        int length = tokens.Length;
        double[][] x = tokens.Select(t => LayerNorm(W("emb.weight").Skip((int)t * Width).Take(Width).ToArray(), W("blocks.0.ln0.weight"), W("blocks.0.ln0.bias"))).ToArray();
        for (int l = 0; l < Layers; l++)
        {
            string p = $"blocks.{l}.";
            double[][] xx = x.Select(v => LayerNorm(v, W(p + "ln1.weight"), W(p + "ln1.bias"))).ToArray();
            double[][] previous = Enumerable.Range(0, length).Select(t => t == 0 ? new double[Width] : xx[t - 1]).ToArray();
            double[][] Project(string mix, string matrix) =>
                Enumerable.Range(0, length).Select(t => MatVec(W(p + matrix), Lerp(xx[t], previous[t], W(p + mix)))).ToArray();
            double[][] r = Project("att.time_mix_r", "att.receptance.weight");
            double[][] k = Project("att.time_mix_k", "att.key.weight");
            double[][] v = Project("att.time_mix_v", "att.value.weight");
            double[][] y = new double[length][];
            if (version == RwkvVersion.V4)
            {
                double[] w = W(p + "att.time_decay").Select(d => -Math.Exp(d)).ToArray(), u = W(p + "att.time_first");
                for (int t = 0; t < length; t++)
                {
                    y[t] = new double[Width];
                    for (int c = 0; c < Width; c++)
                    {
                        double numerator = Math.Exp(u[c] + k[t][c]) * v[t][c], denominator = Math.Exp(u[c] + k[t][c]);
                        for (int i = 0; i < t; i++)
                        {
                            double weight = Math.Exp((t - 1 - i) * w[c] + k[i][c]);
                            numerator += weight * v[i][c];
                            denominator += weight;
                        }
                        y[t][c] = 1 / (1 + Math.Exp(-r[t][c])) * numerator / denominator;
                    }
                }
            }
            else
            {
                double[] decay = W(p + "att.time_decay"), first = W(p + (version == RwkvVersion.V5_1 ? "att.time_first" : "att.time_faaaa"));
                double PerChannel(double[] values, int c) => values.Length == Heads ? values[c / HeadSize] : values[c];
                var state = new double[Width, HeadSize]; // [h·N + i, j]
                for (int t = 0; t < length; t++)
                {
                    var o = new double[Width];
                    for (int h = 0; h < Heads; h++)
                    {
                        for (int j = 0; j < HeadSize; j++)
                        {
                            for (int i = 0; i < HeadSize; i++)
                            {
                                int ci = h * HeadSize + i;
                                double kv = k[t][ci] * v[t][h * HeadSize + j];
                                double u = version == RwkvVersion.V5_1 ? Math.Exp(PerChannel(first, ci)) : PerChannel(first, ci);
                                o[h * HeadSize + j] += r[t][ci] * (u * kv + state[ci, j]);
                                state[ci, j] = Math.Exp(-Math.Exp(PerChannel(decay, ci))) * state[ci, j] + kv;
                            }
                        }
                    }
                    double[] lnxWeight = W(p + "att.ln_x.weight"), lnxBias = W(p + "att.ln_x.bias");
                    y[t] = new double[Width];
                    for (int h = 0; h < Heads; h++)
                    {
                        double[] normed = LayerNorm(o.Skip(h * HeadSize).Take(HeadSize).ToArray(),
                            lnxWeight.Skip(h * HeadSize).Take(HeadSize).ToArray(), lnxBias.Skip(h * HeadSize).Take(HeadSize).ToArray());
                        normed.CopyTo(y[t], h * HeadSize);
                    }
                    if (version == RwkvVersion.V5_2)
                    {
                        double[] g = MatVec(W(p + "att.gate.weight"), Lerp(xx[t], previous[t], W(p + "att.time_mix_g")));
                        for (int c = 0; c < Width; c++)
                            y[t][c] *= g[c] / (1 + Math.Exp(-g[c]));
                    }
                }
            }
            for (int t = 0; t < length; t++)
                x[t] = Add(x[t], MatVec(W(p + "att.output.weight"), y[t]));

            xx = x.Select(v => LayerNorm(v, W(p + "ln2.weight"), W(p + "ln2.bias"))).ToArray();
            previous = Enumerable.Range(0, length).Select(t => t == 0 ? new double[Width] : xx[t - 1]).ToArray();
            for (int t = 0; t < length; t++)
            {
                double[] gate = MatVec(W(p + "ffn.receptance.weight"), Lerp(xx[t], previous[t], W(p + "ffn.time_mix_r")));
                double[] hidden = MatVec(W(p + "ffn.key.weight"), Lerp(xx[t], previous[t], W(p + "ffn.time_mix_k"))).Select(h => Math.Max(h, 0) * Math.Max(h, 0)).ToArray();
                double[] value = MatVec(W(p + "ffn.value.weight"), hidden);
                x[t] = Add(x[t], value.Select((e, c) => e / (1 + Math.Exp(-gate[c]))).ToArray());
            }
        }
        return x.Select(v => MatVec(W("head.weight"), LayerNorm(v, W("ln_out.weight"), W("ln_out.bias")))).ToArray();
    }

    private static double[] LayerNorm(double[] x, double[] weight, double[] bias)
    {
        double mean = x.Average(), variance = x.Select(e => (e - mean) * (e - mean)).Average();
        return x.Select((e, i) => (e - mean) / Math.Sqrt(variance + 1e-5) * weight[i] + bias[i]).ToArray();
    }

    private static double[] Lerp(double[] x, double[] previous, double[] mu) => x.Select((e, i) => e * mu[i] + previous[i] * (1 - mu[i])).ToArray();

    private static double[] Add(double[] a, double[] b) => a.Select((e, i) => e + b[i]).ToArray();

    /// <summary>W <c>[rows, x.Length]</c> (row-major) times x.</summary>
    private static double[] MatVec(double[] w, double[] x)
    {
        int columns = x.Length, rows = w.Length / columns;
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
                y[r] += w[r * columns + c] * x[c];
        return y;
    }
}
