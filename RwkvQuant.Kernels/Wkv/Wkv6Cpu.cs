using System.Runtime.Intrinsics;

namespace RwkvQuant.Kernels.Wkv;

/// <summary>
/// The fast CPU RWKV-6 WKV: the same recurrence as <see cref="Wkv6Reference"/> (equal to float rounding), eight value
/// columns at a time with <see cref="Vector256{T}"/> (the output accumulators stay in registers while the key rows
/// stream through the head's state, which fits in L1) and the heads in parallel when the call is large enough to pay
/// for the threads.
/// </summary>
public static unsafe class Wkv6Cpu
{
    /// <summary>Multiply-adds per call (T·H·N²) from which heads run on several threads.</summary>
    public const long ParallelThreshold = 1 << 17;

    /// <summary>As <see cref="Wkv6Reference.Run"/>.</summary>
    public static void Run(WkvShape shape, ReadOnlySpan<float> r, ReadOnlySpan<float> w, ReadOnlySpan<float> k,
        ReadOnlySpan<float> v, ReadOnlySpan<float> u, Span<float> state, Span<float> y)
    {
        shape.CheckCommon(r.Length, w.Length, k.Length, v.Length, state.Length, y.Length);
        WkvShape.Check(u.Length, shape.HeadVectorLength, nameof(u), "[H, N]");
        fixed (float* pr = r, pw = w, pk = k, pv = v, pu = u, ps = state, py = y)
        {
            var args = new Arguments(shape, pr, pw, pk, pv, pu, ps, py);
            if ((long)shape.Steps * shape.Heads * shape.HeadSize * shape.HeadSize >= ParallelThreshold && shape.Heads > 1)
                RunParallel(args);
            else
                for (int h = 0; h < shape.Heads; h++)
                    Head(args, h);
        }
    }

    /// <summary>The heads on the thread pool (its own method, so the sequential path allocates no closure).</summary>
    private static void RunParallel(Arguments args) => Parallel.For(0, args.Shape.Heads, h => Head(args, h));

    private static void Head(Arguments a, int h)
    {
        int heads = a.Shape.Heads, n = a.Shape.HeadSize;
        float* s = a.State + (long)h * n * n;
        float* u = a.U + h * n;
        for (int t = 0; t < a.Shape.Steps; t++)
        {
            long token = ((long)t * heads + h) * n;
            float* r = a.R + token, w = a.W + token, k = a.K + token, v = a.V + token, y = a.Y + token;
            int j = 0;
            for (; j <= n - Vector256<float>.Count; j += Vector256<float>.Count)
            {
                Vector256<float> vj = Vector256.Load(v + j);
                Vector256<float> acc = Vector256<float>.Zero;
                float* column = s + j;
                for (int i = 0; i < n; i++, column += n)
                {
                    Vector256<float> old = Vector256.Load(column);
                    Vector256<float> kv = Vector256.Create(k[i]) * vj;
                    acc += Vector256.Create(r[i]) * (Vector256.Create(u[i]) * kv + old);
                    (kv + Vector256.Create(w[i]) * old).Store(column);
                }
                acc.Store(y + j);
            }
            for (; j < n; j++)
            {
                float acc = 0;
                for (int i = 0; i < n; i++)
                {
                    float old = s[i * n + j];
                    float kv = k[i] * v[j];
                    acc += r[i] * (u[i] * kv + old);
                    s[i * n + j] = kv + w[i] * old;
                }
                y[j] = acc;
            }
        }
    }

    /// <summary>The pinned arguments, shared by the head workers.</summary>
    private readonly struct Arguments(WkvShape shape, float* r, float* w, float* k, float* v, float* u, float* state, float* y)
    {
        public readonly WkvShape Shape = shape;
        public readonly float* R = r, W = w, K = k, V = v, U = u, State = state, Y = y;
    }
}
