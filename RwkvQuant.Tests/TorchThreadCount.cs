namespace RwkvQuant.Tests;

/// <summary>
/// Test classes that change torch's process-wide intra-op thread count (<c>Training/SingleTorchThread</c>). They run
/// after the parallel part of the run, one at a time: the count they set would otherwise apply to every class running
/// beside them, and a count restored by one of them in the middle of another's run can change float results that
/// the other compares bit for bit (a training run against its resumed twin). The process-wide garbage-collection
/// stress test (<c>Native/ConcurrentFinalizationTests</c>) runs here too, so that its forced collections meet only its
/// own workload.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TorchThreadCount
{
    public const string Name = "torch thread count";
}
