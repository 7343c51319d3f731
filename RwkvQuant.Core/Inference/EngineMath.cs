using System.Numerics.Tensors;

namespace RwkvQuant.Inference;

/// <summary>The element-wise pieces of one RWKV token step, on spans (float32, as the TorchSharp networks compute).</summary>
internal static class EngineMath
{
    /// <summary>ε of every LayerNorm in RWKV (as <c>RwkvOps.LayerNormEpsilon</c>).</summary>
    public const float LayerNormEpsilon = 1e-5f;

    /// <summary>ε of the per-head GroupNorm <c>ln_x</c> of v6 and v7.</summary>
    public const float GroupNormEpsilon = 64e-5f;

    /// <summary>y = (x − mean) / √(var + ε) · w + b over the whole of x (biased variance).</summary>
    public static void LayerNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y, float epsilon = LayerNormEpsilon)
    {
        float mean = TensorPrimitives.Sum(x) / x.Length;
        TensorPrimitives.Subtract(x, mean, y);
        float variance = TensorPrimitives.SumOfSquares(y) / x.Length;
        float inverse = 1f / MathF.Sqrt(variance + epsilon);
        TensorPrimitives.Multiply(y, inverse, y);
        TensorPrimitives.MultiplyAdd(y, weight, bias, y);
    }

    /// <summary>LayerNorm of each of <paramref name="heads"/> equal slices of x (RWKV's <c>ln_x</c>), then · w + b per channel.</summary>
    public static void GroupNorm(ReadOnlySpan<float> x, int heads, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y, float epsilon = GroupNormEpsilon)
    {
        int n = x.Length / heads;
        for (int h = 0; h < heads; h++)
        {
            ReadOnlySpan<float> xh = x.Slice(h * n, n);
            Span<float> yh = y.Slice(h * n, n);
            float mean = TensorPrimitives.Sum(xh) / n;
            TensorPrimitives.Subtract(xh, mean, yh);
            float variance = TensorPrimitives.SumOfSquares(yh) / n;
            TensorPrimitives.Multiply(yh, 1f / MathF.Sqrt(variance + epsilon), yh);
        }
        TensorPrimitives.MultiplyAdd(y, weight, bias, y);
    }

    /// <summary>Token-shift mix: y = x + (last − x) ⊙ μ, with dx = last − x given.</summary>
    public static void Mix(ReadOnlySpan<float> x, ReadOnlySpan<float> dx, ReadOnlySpan<float> mu, Span<float> y) =>
        TensorPrimitives.MultiplyAdd(dx, mu, x, y);

    /// <summary>Divides each head's slice of x by its L2 norm (at least 1e-12), as <c>F.normalize(p=2)</c>.</summary>
    public static void NormalizeHeads(Span<float> x, int heads)
    {
        int n = x.Length / heads;
        for (int h = 0; h < heads; h++)
        {
            Span<float> xh = x.Slice(h * n, n);
            float norm = MathF.Max(MathF.Sqrt(TensorPrimitives.SumOfSquares(xh)), 1e-12f);
            TensorPrimitives.Divide(xh, norm, xh);
        }
    }
}
