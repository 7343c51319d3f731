using System.Numerics.Tensors;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>The FP32 baseline: y_n = W·x_n with W float32 <c>[rows, columns]</c>, SIMD dot products, threads over rows.</summary>
internal static class Fp32MatVec
{
    /// <summary>Effectively computes y[n, r] = Σ_k W[r, k]·x[n, k] for x <c>[vectors, columns]</c>, y <c>[vectors, rows]</c>.</summary>
    public static void MatVec(float[] weights, int rows, int columns, ReadOnlySpan<float> x, Span<float> y, int vectors)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (weights.LongLength != (long)rows * columns)
            throw new ArgumentException($"W must be [{rows}, {columns}], got {weights.LongLength} values.", nameof(weights));
        PackedReference.CheckShapes(rows, columns, x, y, vectors);
        float[] xs = x.ToArray();
        float[] ys = new float[y.Length];
        RowPartition.For(rows, (long)columns * vectors, (first, end) =>
        {
            for (int row = first; row < end; row++)
            {
                ReadOnlySpan<float> w = weights.AsSpan((int)((long)row * columns), columns);
                for (int n = 0; n < vectors; n++)
                    ys[n * rows + row] = TensorPrimitives.Dot(w, xs.AsSpan(n * columns, columns));
            }
        });
        ys.CopyTo(y);
    }
}
