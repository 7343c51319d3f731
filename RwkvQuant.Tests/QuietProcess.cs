namespace RwkvQuant.Tests;

/// <summary>
/// Test classes that measure the whole process: the fuzz run bounds each case's allocations by the process-wide count
/// (<see cref="GC.GetTotalAllocatedBytes"/>, which also sees a loader's thread-pool work), so a class running beside
/// it would have its allocations charged to a fuzz case (a 200-case run once saw a .rwkvq case at 158% of its bound in
/// a full suite and at 1% alone). They run after the parallel part of the run, one at a time.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class QuietProcess
{
    public const string Name = "quiet process";
}
