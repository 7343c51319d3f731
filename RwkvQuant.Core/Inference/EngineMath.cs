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

    /// <summary><see cref="LayerNorm"/> of each token's row of x <c>[T, C]</c> (C the length of the weight).</summary>
    public static void LayerNormPerToken(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y)
    {
        int c = weight.Length;
        for (int t = 0; t < x.Length; t += c)
            LayerNorm(x.Slice(t, c), weight, bias, y.Slice(t, c));
    }

    /// <summary><see cref="GroupNorm"/> of each token's row of x <c>[T, C]</c>.</summary>
    public static void GroupNormPerToken(ReadOnlySpan<float> x, int heads, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y)
    {
        int c = weight.Length;
        for (int t = 0; t < x.Length; t += c)
            GroupNorm(x.Slice(t, c), heads, weight, bias, y.Slice(t, c));
    }

    /// <summary>
    /// The token shift over a run of tokens x <c>[T, C]</c>: dx_t = x_{t−1} − x_t with x_{−1} = <paramref name="last"/>
    /// (the previous run's last token, the state), then <paramref name="last"/> becomes x_{T−1}.
    /// </summary>
    public static void TokenShift(Span<float> last, ReadOnlySpan<float> x, Span<float> dx)
    {
        int c = last.Length, n = x.Length;
        TensorPrimitives.Subtract(last, x[..c], dx[..c]);
        if (n > c)
            TensorPrimitives.Subtract(x[..(n - c)], x[c..], dx[c..n]);
        x.Slice(n - c, c).CopyTo(last);
    }

    /// <summary><see cref="Mix"/> for each token's row: y_t = x_t + dx_t ⊙ μ.</summary>
    public static void MixPerToken(ReadOnlySpan<float> x, ReadOnlySpan<float> dx, ReadOnlySpan<float> mu, Span<float> y) =>
        MultiplyAddPerToken(dx, mu, x, y);

    /// <summary>y_t = x_t + v for each token's row of x <c>[T, C]</c>, v <c>[C]</c>.</summary>
    public static void AddPerToken(ReadOnlySpan<float> x, ReadOnlySpan<float> v, Span<float> y)
    {
        int c = v.Length;
        for (int t = 0; t < x.Length; t += c)
            TensorPrimitives.Add(x.Slice(t, c), v, y.Slice(t, c));
    }

    /// <summary>y_t = x_t ⊙ v for each token's row of x <c>[T, C]</c>, v <c>[C]</c>.</summary>
    public static void MultiplyPerToken(ReadOnlySpan<float> x, ReadOnlySpan<float> v, Span<float> y)
    {
        int c = v.Length;
        for (int t = 0; t < x.Length; t += c)
            TensorPrimitives.Multiply(x.Slice(t, c), v, y.Slice(t, c));
    }

    /// <summary>y_t = x_t ⊙ v + a_t for each token's row of x and a <c>[T, C]</c>, v <c>[C]</c>.</summary>
    public static void MultiplyAddPerToken(ReadOnlySpan<float> x, ReadOnlySpan<float> v, ReadOnlySpan<float> addend, Span<float> y)
    {
        int c = v.Length;
        for (int t = 0; t < x.Length; t += c)
            TensorPrimitives.MultiplyAdd(x.Slice(t, c), v, addend.Slice(t, c), y.Slice(t, c));
    }
}
