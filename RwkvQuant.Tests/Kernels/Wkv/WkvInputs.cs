using RwkvQuant.Kernels.Wkv;

namespace RwkvQuant.Tests.Kernels.Wkv;

/// <summary>Random WKV inputs of realistic ranges: decays in (0, 1), v7's z = −κ̂ and b = κ̂ ⊙ a with a in (0, 1).</summary>
internal sealed class WkvInputs
{
    public WkvInputs(WkvShape shape, int seed)
    {
        var random = new Random(seed);
        float Normal() => (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        float[] Fill(int length, Func<float> next) => Enumerable.Range(0, length).Select(_ => next()).ToArray();
        Shape = shape;
        int length = shape.TokenLength, n = shape.HeadSize;
        R = Fill(length, Normal);
        K = Fill(length, () => 0.5f * Normal());
        V = Fill(length, Normal);
        W = Fill(length, () => MathF.Exp(-MathF.Exp(0.5f * Normal() - 1)));
        U = Fill(shape.HeadVectorLength, Normal);
        State = Fill(shape.StateLength, () => 0.3f * Normal());
        Z = new float[length];
        B = new float[length];
        for (int head = 0; head < length / n; head++)
        {
            float[] kappa = Fill(n, Normal);
            float norm = MathF.Sqrt(kappa.Sum(x => x * x));
            for (int i = 0; i < n; i++)
            {
                float a = (float)random.NextDouble();
                Z[head * n + i] = -kappa[i] / norm;
                B[head * n + i] = kappa[i] / norm * a;
            }
        }
    }

    public WkvShape Shape { get; }

    public float[] R { get; }

    public float[] W { get; }

    public float[] K { get; }

    public float[] V { get; }

    public float[] U { get; }

    public float[] Z { get; }

    public float[] B { get; }

    /// <summary>The state before the first token.</summary>
    public float[] State { get; }

    /// <summary>Tokens [from, from + count) of a per-token input.</summary>
    public float[] Tokens(float[] values, int from, int count) =>
        values.AsSpan(from * Shape.Heads * Shape.HeadSize, count * Shape.Heads * Shape.HeadSize).ToArray();

    public static void AssertClose(float[] expected, float[] actual, float tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            if (!(Math.Abs(expected[i] - actual[i]) <= tolerance * (1 + Math.Abs(expected[i]))))
                Assert.Fail($"{what}[{i}]: expected {expected[i]}, got {actual[i]} (tolerance {tolerance} relative).");
        }
    }
}
