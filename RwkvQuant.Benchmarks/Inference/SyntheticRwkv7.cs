using RwkvQuant.Formats;
using RwkvQuant.Models;

namespace RwkvQuant.Benchmarks.Inference;

/// <summary>
/// An in-memory RWKV-7 of realistic shape with random weights of realistic scale (BlinkDL's tensor names and layouts):
/// matrices uniform with standard deviation 1/√in, LoRA sizes of the 0.1B model (decay 64, a 64, v 32, gate 128),
/// mix vectors in [0, 1], decay base w0 in [−6, −1], layer norms near 1. Only the speed of a forward step is measured
/// on it, so the weights need only be of the right size and scale, not trained.
/// </summary>
internal static class SyntheticRwkv7
{
    public static RwkvModel Create(int layers = 12, int width = 768, int vocabulary = 65536, int seed = 1)
    {
        const int headSize = 64, decayLora = 64, aLora = 64, valueLora = 32, gateLora = 128;
        int heads = width / headSize, ffn = 4 * width;
        var random = new Random(seed);
        var tensors = new List<TensorData>();
        void Add(string name, long[] shape, Func<float> value)
        {
            var values = new float[shape.Aggregate(1L, (a, b) => a * b)];
            for (long i = 0; i < values.LongLength; i++)
                values[i] = value();
            tensors.Add(TensorData.FromFloats(name, shape, values));
        }
        Func<float> Uniform(double low, double high) => () => (float)(low + (high - low) * random.NextDouble());
        Func<float> Spread(double sigma) => Uniform(-sigma * Math.Sqrt(3), sigma * Math.Sqrt(3)); // mean 0, standard deviation σ
        void Matrix(string name, int rows, int columns) => Add(name, [rows, columns], Spread(1 / Math.Sqrt(columns)));  // [out, in]
        void LoRA(string name, int input, int output) => Add(name, [input, output], Spread(1 / Math.Sqrt(input)));    // [in, out]
        void Vector(string name, Func<float> value) => Add(name, [1, 1, width], value);

        Add("emb.weight", [vocabulary, width], Spread(0.02));
        Add("blocks.0.ln0.weight", [width], Uniform(0.9, 1.1));
        Add("blocks.0.ln0.bias", [width], Spread(0.01));
        for (int i = 0; i < layers; i++)
        {
            string p = $"blocks.{i}.";
            foreach (string norm in new[] { "ln1", "ln2" })
            {
                Add(p + norm + ".weight", [width], Uniform(0.9, 1.1));
                Add(p + norm + ".bias", [width], Spread(0.01));
            }
            foreach (string mix in new[] { "x_r", "x_w", "x_k", "x_v", "x_a", "x_g" })
                Vector(p + "att." + mix, Uniform(0, 1));
            Vector(p + "att.w0", Uniform(-6, -1));
            LoRA(p + "att.w1", width, decayLora);
            LoRA(p + "att.w2", decayLora, width);
            Vector(p + "att.a0", Spread(0.1));
            LoRA(p + "att.a1", width, aLora);
            LoRA(p + "att.a2", aLora, width);
            if (i > 0)
            {
                Vector(p + "att.v0", Uniform(0.5, 1.5));
                LoRA(p + "att.v1", width, valueLora);
                LoRA(p + "att.v2", valueLora, width);
            }
            LoRA(p + "att.g1", width, gateLora);
            LoRA(p + "att.g2", gateLora, width);
            Vector(p + "att.k_k", Uniform(0.7, 1));
            Vector(p + "att.k_a", Uniform(0.8, 1.2));
            Add(p + "att.r_k", [heads, headSize], Spread(0.1));
            foreach (string projection in new[] { "receptance", "key", "value", "output" })
                Matrix(p + "att." + projection + ".weight", width, width);
            Add(p + "att.ln_x.weight", [width], Uniform(0.9, 1.1));
            Add(p + "att.ln_x.bias", [width], Spread(0.01));
            Vector(p + "ffn.x_k", Uniform(0, 1));
            Matrix(p + "ffn.key.weight", ffn, width);
            Matrix(p + "ffn.value.weight", width, ffn);
        }
        Add("ln_out.weight", [width], Uniform(0.9, 1.1));
        Add("ln_out.bias", [width], Spread(0.01));
        Matrix("head.weight", vocabulary, width);
        return new RwkvModel(new RwkvConfig(RwkvVersion.V7, layers, width, vocabulary, heads, headSize, ffn), tensors, "synthetic");
    }
}
