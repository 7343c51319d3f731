using ILGPU;

namespace RwkvQuant.Kernels.Wkv;

/// <summary>
/// The ILGPU WKV kernels. One thread per (head, state line): RWKV-6's state columns and RWKV-7's state rows evolve
/// independently of each other, so a thread owns its line of S for all T tokens and no thread waits on another.
/// Layouts as <see cref="Wkv6Reference"/> and <see cref="Wkv7Reference"/>; the arithmetic is theirs, term for term.
/// </summary>
internal static class WkvKernels
{
    /// <summary>
    /// RWKV-6. Thread (h, j) owns value column j of head h's state S <c>[H, N(key), N(value)]</c> and writes y[t, h, j].
    /// </summary>
    /// <param name="index">(head h, value column j) over [H, N].</param>
    /// <param name="r">Receptance <c>[T, H, N]</c>.</param>
    /// <param name="w">Decay <c>[T, H, N]</c>.</param>
    /// <param name="k">Key <c>[T, H, N]</c>.</param>
    /// <param name="v">Value <c>[T, H, N]</c>.</param>
    /// <param name="u">Bonus <c>[H, N]</c>.</param>
    /// <param name="state">S <c>[H, N, N]</c>, read and written.</param>
    /// <param name="y">Output <c>[T, H, N]</c>.</param>
    /// <param name="steps">T.</param>
    /// <param name="heads">H.</param>
    /// <param name="n">N.</param>
    public static void Wkv6(Index2D index, ArrayView<float> r, ArrayView<float> w, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> u, ArrayView<float> state, ArrayView<float> y, int steps, int heads, int n)
    {
        int h = index.X, j = index.Y;
        long s = (long)h * n * n;
        for (int t = 0; t < steps; t++)
        {
            long token = ((long)t * heads + h) * n;
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

    /// <summary>
    /// RWKV-7. Thread (h, i) owns value row i of head h's state S <c>[H, N(value), N(key)]</c> and writes y[t, h, i].
    /// </summary>
    /// <param name="index">(head h, value row i) over [H, N].</param>
    /// <param name="r">Receptance <c>[T, H, N]</c>.</param>
    /// <param name="w">Decay <c>[T, H, N]</c>.</param>
    /// <param name="k">Key <c>[T, H, N]</c>.</param>
    /// <param name="v">Value <c>[T, H, N]</c>.</param>
    /// <param name="z">Removal direction <c>[T, H, N]</c>.</param>
    /// <param name="b">Replacement weights <c>[T, H, N]</c>.</param>
    /// <param name="state">S <c>[H, N, N]</c>, read and written.</param>
    /// <param name="y">Output <c>[T, H, N]</c>.</param>
    /// <param name="steps">T.</param>
    /// <param name="heads">H.</param>
    /// <param name="n">N.</param>
    public static void Wkv7(Index2D index, ArrayView<float> r, ArrayView<float> w, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> z, ArrayView<float> b, ArrayView<float> state, ArrayView<float> y, int steps, int heads, int n)
    {
        int h = index.X, i = index.Y;
        long row = ((long)h * n + i) * n;
        for (int t = 0; t < steps; t++)
        {
            long token = ((long)t * heads + h) * n;
            float sz = 0;
            for (int j = 0; j < n; j++)
                sz += state[row + j] * z[token + j];
            float acc = 0;
            for (int j = 0; j < n; j++)
            {
                float next = state[row + j] * w[token + j] + sz * b[token + j] + v[token + i] * k[token + j];
                state[row + j] = next;
                acc += next * r[token + j];
            }
            y[token + i] = acc;
        }
    }
}
