namespace RwkvQuant.Kernels.Wkv;

/// <summary>
/// The plain C# twin of RWKV-7's WKV recurrence, the generalized delta rule (Core's <c>Rwkv7Network</c>, BlinkDL's
/// <c>rwkv_v7_numpy.py</c>). Per head the state S is N×N, indexed [value i, key j]; for each token t:
/// S ← S·diag(w_t) + (S·z_t)·b_tᵀ + v_t·k_tᵀ, then y_t = S·r_t. The network passes z = −κ̂ and b = κ̂ ⊙ a.
/// </summary>
internal static class Wkv7Reference
{
    /// <summary>
    /// Runs T tokens from the carried <paramref name="state"/> (updated in place to the state after the last token).
    /// One token step is T = 1.
    /// </summary>
    /// <param name="shape">T, H, N.</param>
    /// <param name="r">Receptance <c>[T, H, N]</c>.</param>
    /// <param name="w">Decay in (0, 1) <c>[T, H, N]</c>.</param>
    /// <param name="k">Key <c>[T, H, N]</c>.</param>
    /// <param name="v">Value <c>[T, H, N]</c>.</param>
    /// <param name="z">The removal direction (−κ̂) <c>[T, H, N]</c>.</param>
    /// <param name="b">The replacement weights (κ̂ ⊙ a) <c>[T, H, N]</c>.</param>
    /// <param name="state">S <c>[H, N(value), N(key)]</c>, read and written.</param>
    /// <param name="y">Output <c>[T, H, N]</c>.</param>
    public static void Run(WkvShape shape, ReadOnlySpan<float> r, ReadOnlySpan<float> w, ReadOnlySpan<float> k,
        ReadOnlySpan<float> v, ReadOnlySpan<float> z, ReadOnlySpan<float> b, Span<float> state, Span<float> y)
    {
        shape.CheckCommon(r.Length, w.Length, k.Length, v.Length, state.Length, y.Length);
        WkvShape.Check(z.Length, shape.TokenLength, nameof(z), "[T, H, N]");
        WkvShape.Check(b.Length, shape.TokenLength, nameof(b), "[T, H, N]");
        int heads = shape.Heads, n = shape.HeadSize;
        for (int t = 0; t < shape.Steps; t++)
        {
            for (int h = 0; h < heads; h++)
            {
                int token = (t * heads + h) * n;
                for (int i = 0; i < n; i++)
                {
                    Span<float> row = state.Slice((h * n + i) * n, n); // S[i, :]
                    float sz = 0;
                    for (int j = 0; j < n; j++)
                        sz += row[j] * z[token + j];
                    float acc = 0;
                    for (int j = 0; j < n; j++)
                    {
                        float next = row[j] * w[token + j] + sz * b[token + j] + v[token + i] * k[token + j];
                        row[j] = next;
                        acc += next * r[token + j];
                    }
                    y[token + i] = acc;
                }
            }
        }
    }
}
