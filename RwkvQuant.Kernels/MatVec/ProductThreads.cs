namespace RwkvQuant.Kernels.MatVec;

/// <summary>
/// How many threads the CPU matrix–vector products split their rows over: every processor unless a caller limits it
/// (the command line's <c>--threads</c>, as llama.cpp's <c>-t</c>). One process-wide setting, read at each product.
/// </summary>
public static class ProductThreads
{
    private static int _count = Environment.ProcessorCount;

    /// <summary>Threads per product, at least 1; 1 runs every product on the calling thread.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is below 1.</exception>
    public static int Count
    {
        get => Volatile.Read(ref _count);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            Volatile.Write(ref _count, value);
        }
    }

    /// <summary>Options that hold a <see cref="Parallel"/> loop to <paramref name="threads"/> threads.</summary>
    public static ParallelOptions Options(int threads) => new() { MaxDegreeOfParallelism = threads };
}
