using RwkvQuant.Formats;
using RwkvQuant.Quantization;

namespace RwkvQuant.Tests.Vector;

/// <summary>Seeded random weights and correlated calibration inputs.</summary>
internal static class VectorTestData
{
    public static float[] Gaussian(int count, int seed, double scale = 1.0)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++)
            values[i] = (float)(scale * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        return values;
    }

    public static TensorData Weight(int rows, int columns, int seed) =>
        TensorData.FromFloats("blocks.0.att.key.weight", [rows, columns], Gaussian(rows * columns, seed, 0.05));

    /// <summary>H from N inputs x = z·M with z white and M mixing neighbouring columns (strongly correlated inputs).</summary>
    public static Hessian CorrelatedHessian(int columns, int samples, int seed)
    {
        float[] z = Gaussian(samples * columns, seed + 1000);
        float[] scales = Gaussian(columns, seed + 2000);
        var x = new float[z.Length];
        for (int n = 0; n < samples; n++)
        {
            for (int c = 0; c < columns; c++)
            {
                double value = 0;
                for (int k = Math.Max(0, c - 3); k <= c; k++)
                    value += z[n * columns + k];
                x[n * columns + c] = (float)(value * (0.2 + Math.Abs(scales[c])));
            }
        }
        using var accumulator = new HessianAccumulator(columns);
        accumulator.Add(x, samples);
        return accumulator.Build();
    }
}
