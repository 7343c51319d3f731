using RwkvQuant.Kernels.MatVec;

namespace RwkvQuant.Inference;

/// <summary>
/// Splits the rows of a matrix-vector product into chunks on the thread pool when the product is large enough to
/// pay for the threads; small products (the tiny models, LoRA matrices) run on the calling thread.
/// </summary>
internal static class RowParallel
{
    /// <summary>Weights per product above which the rows are split across threads (the kernels' rule too); at and below it
    /// a product runs on the calling thread, as thread hand-offs would cost more (and made timings erratic).</summary>
    internal const long ParallelThreshold = 1 << 18;

    /// <summary>Chunks per thread (<see cref="ProductThreads"/>), so that uneven progress still balances.</summary>
    private const int ChunksPerProcessor = 4;

    /// <summary>Calls <paramref name="body"/>(start, end) over row ranges covering [0, <paramref name="rows"/>).</summary>
    public static void For<TState>(int rows, int columns, TState state, Action<TState, int, int> body)
    {
        int threads = ProductThreads.Count;
        if ((long)rows * columns <= ParallelThreshold || threads == 1 || rows < 2)
        {
            body(state, 0, rows);
            return;
        }
        int chunks = Math.Min(rows, threads * ChunksPerProcessor);
        int size = (rows + chunks - 1) / chunks;
        chunks = (rows + size - 1) / size;
        Parallel.For(0, chunks, ProductThreads.Options(threads), chunk =>
        {
            int start = chunk * size;
            body(state, start, Math.Min(rows, start + size));
        });
    }

    /// <summary>
    /// y = W·x for a product that computes row ranges: checks the shapes, then runs
    /// <see cref="IRowRangeProduct.MultiplyRows"/> over the rows as <see cref="For{TState}"/> splits them.
    /// </summary>
    public static unsafe void Multiply<TProduct>(TProduct product, ReadOnlySpan<float> x, Span<float> y) where TProduct : IRowRangeProduct
    {
        MatrixShapes.Check(product, x.Length, y.Length);
        fixed (float* px = x, py = y)
        {
            var args = (Product: product, X: (nint)px, Y: (nint)py);
            For(product.Rows, product.Columns, args, static (a, start, end) =>
                a.Product.MultiplyRows(new ReadOnlySpan<float>((float*)a.X, a.Product.Columns), new Span<float>((float*)a.Y, a.Product.Rows), start, end));
        }
    }
}

/// <summary>A matrix-vector product that can compute any range of its output rows (what <see cref="RowParallel.Multiply{TProduct}"/> splits).</summary>
internal interface IRowRangeProduct : IMatrixVectorProduct
{
    /// <summary>y[start..end) of y = W·x; x holds Columns values, y Rows.</summary>
    void MultiplyRows(ReadOnlySpan<float> x, Span<float> y, int start, int end);
}
