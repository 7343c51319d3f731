using RwkvQuant.Formats;
using RwkvQuant.Quantization;

namespace RwkvQuant.Tests.Scalar;

/// <summary>Seeded random weights and Hessians of correlated inputs.</summary>
internal static class ScalarTestData
{
    /// <summary>Gaussian weights <c>[rows, columns]</c> of standard deviation <paramref name="sigma"/>.</summary>
    public static TensorData Weight(int seed, int rows, int columns, double sigma = 0.05)
    {
        var random = new Random(seed);
        float[] values = new float[rows * columns];
        for (int i = 0; i < values.Length; i++)
            values[i] = (float)(sigma * Gaussian(random));
        return TensorData.FromFloats($"w{seed}", [rows, columns], values);
    }

    /// <summary>
    /// H = (2/N)·Σ x xᵀ over <paramref name="samples"/> inputs with strongly correlated columns: x = F·B + 0.2·ε with 6
    /// latent factors F, plus a per-column scale between 0.2 and 3 (so diag(H) varies and act-order has work to do).
    /// </summary>
    public static Hessian CorrelatedHessian(int seed, int columns, int samples = 512)
    {
        var random = new Random(seed + 7919);
        const int Factors = 6;
        var loadings = new double[Factors, columns];
        for (int f = 0; f < Factors; f++)
            for (int j = 0; j < columns; j++)
                loadings[f, j] = Gaussian(random);
        double[] columnScale = Enumerable.Range(0, columns).Select(_ => 0.2 + 2.8 * random.NextDouble()).ToArray();
        var inputs = new float[samples * columns];
        var latent = new double[Factors];
        for (int n = 0; n < samples; n++)
        {
            for (int f = 0; f < Factors; f++)
                latent[f] = Gaussian(random);
            for (int j = 0; j < columns; j++)
            {
                double x = 0.2 * Gaussian(random);
                for (int f = 0; f < Factors; f++)
                    x += latent[f] * loadings[f, j];
                inputs[n * columns + j] = (float)(columnScale[j] * x);
            }
        }
        using var accumulator = new HessianAccumulator(columns);
        accumulator.Add(inputs, samples);
        return accumulator.Build();
    }

    public static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
