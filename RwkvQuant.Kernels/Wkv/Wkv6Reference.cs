namespace RwkvQuant.Kernels.Wkv;

/// <summary>
/// The plain C# twin of RWKV-6's WKV recurrence (Core's <c>Rwkv6Network</c>, BlinkDL's <c>rwkv_v6_demo.py</c>). Per
/// head the state S is N×N, indexed [key i, value j]; for each token t:
/// y_t[j] = Σ_i r_t[i]·(u[i]·k_t[i]·v_t[j] + S[i, j]), then S[i, j] ← w_t[i]·S[i, j] + k_t[i]·v_t[j].
/// </summary>
internal static class Wkv6Reference
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
    /// <param name="u">Bonus (<c>time_faaaa</c>) <c>[H, N]</c>.</param>
    /// <param name="state">S <c>[H, N(key), N(value)]</c>, read and written.</param>
    /// <param name="y">Output <c>[T, H, N]</c>.</param>
    public static void Run(WkvShape shape, ReadOnlySpan<float> r, ReadOnlySpan<float> w, ReadOnlySpan<float> k,
        ReadOnlySpan<float> v, ReadOnlySpan<float> u, Span<float> state, Span<float> y)
    {
        shape.CheckCommon(r.Length, w.Length, k.Length, v.Length, state.Length, y.Length);
        WkvShape.Check(u.Length, shape.HeadVectorLength, nameof(u), "[H, N]");
        int heads = shape.Heads, n = shape.HeadSize;
        for (int t = 0; t < shape.Steps; t++)
        {
            for (int h = 0; h < heads; h++)
            {
                int token = (t * heads + h) * n, s = h * n * n;
                for (int j = 0; j < n; j++)
                {
                    float acc = 0;
                    for (int i = 0; i < n; i++)
                    {
                        float old = state[s + i * n + j];
                        float kv = k[token + i] * v[token + j];
                        acc += r[token + i] * (u[h * n + i] * kv + old);
                        state[s + i * n + j] = kv + w[token + i] * old;
                    }
                    y[token + j] = acc;
                }
            }
        }
    }
}
