namespace RwkvQuant.Kernels.MatVec;

/// <summary>Splits rows into chunks for <see cref="Parallel"/>: about four chunks per thread (<see cref="ProductThreads"/>), none under a minimum of work.</summary>
internal static class RowPartition
{
    /// <summary>Below this many weights a product runs on the calling thread (thread hand-off would cost more).</summary>
    private const long SerialWeights = 1 << 18;

    /// <summary>True when <see cref="For"/> would run the whole range on the calling thread.</summary>
    public static bool RunsSerially(int rows, long weightsPerRow) => rows * weightsPerRow <= SerialWeights || ProductThreads.Count == 1;

    /// <summary>Runs <paramref name="body"/>(first row, end row) over [0, <paramref name="rows"/>) in parallel chunks.</summary>
    public static void For(int rows, long weightsPerRow, Action<int, int> body)
    {
        int threads = ProductThreads.Count;
        if (RunsSerially(rows, weightsPerRow))
        {
            body(0, rows);
            return;
        }
        int minRows = (int)Math.Max(1, SerialWeights / 4 / Math.Max(1, weightsPerRow));
        int chunk = Math.Max(minRows, (rows + 4 * threads - 1) / (4 * threads));
        int chunks = (rows + chunk - 1) / chunk;
        Parallel.For(0, chunks, ProductThreads.Options(threads), c => body(c * chunk, Math.Min(rows, (c + 1) * chunk)));
    }
}
