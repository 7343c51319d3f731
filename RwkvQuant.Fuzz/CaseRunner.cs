using System.Diagnostics;

namespace RwkvQuant.Fuzz;

/// <summary>One way of loading a model file, e.g. <c>RwkvModelFile.Load</c>; it throws when the file is refused.</summary>
public sealed record FuzzLoader(string Name, Action<string> Load);

/// <summary>
/// Runs a case's loaders on one file, each on a worker thread under a timeout, measures what they allocate and classifies
/// the result (<see cref="FuzzOutcome"/>). A load that runs past the timeout is left running on its background thread
/// (a thread cannot be stopped from outside) and reported as a hang.
/// </summary>
public sealed class CaseRunner
{
    private readonly List<Thread> _abandoned = [];

    /// <summary>A runner whose loads each get <paramref name="timeout"/>.</summary>
    public CaseRunner(TimeSpan timeout)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);
        Timeout = timeout;
    }

    /// <summary>How long one load may run before it is a hang.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>
    /// The most managed memory one load may allocate for a file of <paramref name="fileLength"/> bytes: 64 × the file plus
    /// 64 MiB. Loading expands stored weights to float32 (×2 from FP16, about ×5 from 5-bit blocks, ×10 from 3-bit codes),
    /// builds the canonical and engine copies beside them and parses headers into objects; 64 × leaves room for that, while a
    /// reader that believes a size field instead of the file's length exceeds it by orders of magnitude.
    /// </summary>
    public static long AllocationBound(long fileLength) => 64 * fileLength + (64L << 20);

    /// <summary>Runs every loader on <paramref name="path"/>: the first defect decides the outcome, else a refusal, else loaded.</summary>
    public CaseResult Run(string path, IReadOnlyList<FuzzLoader> loaders)
    {
        ArgumentNullException.ThrowIfNull(loaders);
        long bound = AllocationBound(new FileInfo(path).Length);
        CaseResult? rejected = null;
        long allocated = 0;
        TimeSpan elapsed = TimeSpan.Zero;
        foreach (FuzzLoader loader in loaders)
        {
            CaseResult result = RunOne(path, loader, bound);
            allocated += result.AllocatedBytes;
            elapsed += result.Elapsed;
            if (result.Outcome.IsDefect())
                return result with { AllocatedBytes = allocated, Elapsed = elapsed };
            if (result.Outcome == FuzzOutcome.Rejected)
                rejected ??= result;
        }
        return (rejected ?? new CaseResult(FuzzOutcome.Loaded, string.Join("+", loaders.Select(l => l.Name)), 0, TimeSpan.Zero))
            with { AllocatedBytes = allocated, Elapsed = elapsed };
    }

    /// <summary>Classifies <paramref name="error"/>, thrown by <paramref name="loader"/> on <paramref name="path"/>.</summary>
    public static CaseResult Classify(string path, string loader, Exception? error, long allocated, TimeSpan elapsed, long bound)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (error is null)
        {
            return allocated > bound
                ? new CaseResult(FuzzOutcome.OverAllocation, loader, allocated, elapsed, Message: $"loaded after allocating {allocated:N0} bytes, over the bound of {bound:N0}")
                : new CaseResult(FuzzOutcome.Loaded, loader, allocated, elapsed);
        }
        string stackTop = string.Join(" | ", (error.StackTrace ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Take(4));
        FuzzOutcome outcome = error switch
        {
            InvalidDataException when !error.Message.Contains(path, StringComparison.Ordinal) => FuzzOutcome.RejectedWithoutPath,
            InvalidDataException when allocated > bound => FuzzOutcome.OverAllocation,
            InvalidDataException => FuzzOutcome.Rejected,
            _ => FuzzOutcome.OtherException,
        };
        return new CaseResult(outcome, loader, allocated, elapsed, error.GetType().FullName, error.Message, stackTop);
    }

    private CaseResult RunOne(string path, FuzzLoader loader, long bound)
    {
        Exception? error = null;
        long allocatedHere = 0;
        var thread = new Thread(() =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                loader.Load(path);
            }
#pragma warning disable CA1031 // every exception is an outcome to classify
            catch (Exception exception)
#pragma warning restore CA1031
            {
                error = exception;
            }
            allocatedHere = GC.GetAllocatedBytesForCurrentThread() - before;
        })
        { IsBackground = true, Name = "fuzz case" };
        bool othersQuiet = _abandoned.TrueForAll(t => !t.IsAlive);
        long totalBefore = GC.GetTotalAllocatedBytes();
        var clock = Stopwatch.StartNew();
        thread.Start();
        if (!thread.Join(Timeout))
        {
            _abandoned.Add(thread);
            return new CaseResult(FuzzOutcome.Hang, loader.Name, 0, clock.Elapsed, Message: $"still loading after {Timeout.TotalSeconds:0.#} s");
        }
        // Loaders may fan out to the thread pool, which the worker's own count misses; the process-wide count sees them
        // as long as no abandoned (hung) load is still allocating beside this one.
        long allocated = othersQuiet ? Math.Max(allocatedHere, GC.GetTotalAllocatedBytes() - totalBefore) : allocatedHere;
        return Classify(path, loader.Name, error, allocated, clock.Elapsed, bound);
    }
}
