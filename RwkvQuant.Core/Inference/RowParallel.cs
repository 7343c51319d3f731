namespace RwkvQuant.Inference;

/// <summary>
/// Splits the rows of a matrix-vector product into chunks on the thread pool when the product is large enough to
/// pay for the threads; small products (the tiny models, LoRA matrices) run on the calling thread.
/// </summary>
internal static class RowParallel
{
    /// <summary>Weights per product from which the rows are split across threads.</summary>
    internal const long ParallelThreshold = 1 << 18;

    /// <summary>Chunks per processor, so that uneven progress still balances.</summary>
    private const int ChunksPerProcessor = 4;

    /// <summary>Calls <paramref name="body"/>(start, end) over row ranges covering [0, <paramref name="rows"/>).</summary>
    public static void For<TState>(int rows, int columns, TState state, Action<TState, int, int> body)
    {
        if ((long)rows * columns < ParallelThreshold || Environment.ProcessorCount == 1 || rows < 2)
        {
            body(state, 0, rows);
            return;
        }
        int chunks = Math.Min(rows, Environment.ProcessorCount * ChunksPerProcessor);
        int size = (rows + chunks - 1) / chunks;
        chunks = (rows + size - 1) / size;
        Parallel.For(0, chunks, chunk =>
        {
            int start = chunk * size;
            body(state, start, Math.Min(rows, start + size));
        });
    }
}
