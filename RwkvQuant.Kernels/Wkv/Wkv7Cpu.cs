using System.Runtime.Intrinsics;

namespace RwkvQuant.Kernels.Wkv;

/// <summary>
/// The fast CPU RWKV-7 WKV: the same recurrence as <see cref="Wkv7Reference"/> (equal to float rounding). Each value
/// row of a head's state is read twice per token, once for S·z and once to update it and take S·r, eight key columns
/// at a time with <see cref="Vector256{T}"/>; the heads run in parallel when the call is large enough to pay for the
/// threads.
/// </summary>
public static unsafe class Wkv7Cpu
{
    /// <summary>Multiply-adds per call (T·H·N²) from which heads run on several threads.</summary>
    public const long ParallelThreshold = 1 << 17;

    /// <summary>As <see cref="Wkv7Reference.Run"/>.</summary>
    public static void Run(WkvShape shape, ReadOnlySpan<float> r, ReadOnlySpan<float> w, ReadOnlySpan<float> k,
        ReadOnlySpan<float> v, ReadOnlySpan<float> z, ReadOnlySpan<float> b, Span<float> state, Span<float> y)
    {
        shape.CheckCommon(r.Length, w.Length, k.Length, v.Length, state.Length, y.Length);
        WkvShape.Check(z.Length, shape.TokenLength, nameof(z), "[T, H, N]");
        WkvShape.Check(b.Length, shape.TokenLength, nameof(b), "[T, H, N]");
        fixed (float* pr = r, pw = w, pk = k, pv = v, pz = z, pb = b, ps = state, py = y)
        {
            var args = new Arguments(shape, pr, pw, pk, pv, pz, pb, ps, py);
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
        const int lanes = 8;
        int vectorEnd = n - n % lanes;
        for (int t = 0; t < a.Shape.Steps; t++)
        {
            long token = ((long)t * heads + h) * n;
            float* r = a.R + token, w = a.W + token, k = a.K + token, v = a.V + token, z = a.Z + token, b = a.B + token;
            float* y = a.Y + token;
            float* row = a.State + (long)h * n * n;
            for (int i = 0; i < n; i++, row += n)
            {
                // sz = S[i, :]·z
                Vector256<float> dot = Vector256<float>.Zero;
                int j = 0;
                for (; j < vectorEnd; j += lanes)
                    dot += Vector256.Load(row + j) * Vector256.Load(z + j);
                float sz = Vector256.Sum(dot);
                for (; j < n; j++)
                    sz += row[j] * z[j];

                // S[i, :] ← S[i, :] ⊙ w + sz·b + v[i]·k;  y[i] = S[i, :]·r
                Vector256<float> szv = Vector256.Create(sz), vi = Vector256.Create(v[i]), acc = Vector256<float>.Zero;
                for (j = 0; j < vectorEnd; j += lanes)
                {
                    Vector256<float> next = Vector256.Load(row + j) * Vector256.Load(w + j) + szv * Vector256.Load(b + j)
                        + vi * Vector256.Load(k + j);
                    next.Store(row + j);
                    acc += next * Vector256.Load(r + j);
                }
                float yi = Vector256.Sum(acc);
                for (; j < n; j++)
                {
                    float next = row[j] * w[j] + sz * b[j] + v[i] * k[j];
                    row[j] = next;
                    yi += next * r[j];
                }
                y[i] = yi;
            }
        }
    }

    /// <summary>The pinned arguments, shared by the head workers.</summary>
    private readonly struct Arguments(WkvShape shape, float* r, float* w, float* k, float* v, float* z, float* b, float* state, float* y)
    {
        public readonly WkvShape Shape = shape;
        public readonly float* R = r, W = w, K = k, V = v, Z = z, B = b, State = state, Y = y;
    }
}
