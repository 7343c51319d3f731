using RwkvQuant.Kernels.Packed;
using RwkvQuant.Models;

namespace RwkvQuant.Tests.Architecture;

/// <summary>
/// Namespace cycles, read from the built assemblies' metadata (<see cref="NamespaceDependencies"/>). RwkvQuant.Core and
/// RwkvQuant.Kernels still have the cycles listed here (issue 17 takes them apart): a new or grown cycle fails the test,
/// and so does breaking one without taking it off the list, so the lists can only be made shorter on purpose.
/// </summary>
public class NamespaceCycleTests
{
    /// <summary>RwkvQuant.Core's cycles on 2026-12-07, after the ggml model loader, writer and converter transforms moved
    /// from Formats.Ggml to Models: one component of five namespaces (Models ↔ Pipeline through RwkvModelFile opening
    /// .rwkvq, Pipeline ↔ Serialization, Pipeline ↔ Evaluation through the allocation's KL weighting…).</summary>
    private static readonly string[] KnownCoreCycles =
    [
        "RwkvQuant.Calibration <-> RwkvQuant.Evaluation <-> RwkvQuant.Models <-> RwkvQuant.Pipeline <-> RwkvQuant.Pipeline.Serialization",
    ];

    /// <summary>RwkvQuant.Kernels' cycles on 2026-12-07: the products and the packed layouts use each other.</summary>
    private static readonly string[] KnownKernelsCycles = ["RwkvQuant.Kernels.MatVec <-> RwkvQuant.Kernels.Packed"];

    [Fact]
    public void Core_has_no_namespace_cycle_but_the_known_ones()
    {
        IReadOnlyList<string> cycles = NamespaceDependencies.Read(typeof(RwkvModel).Assembly.Location).Cycles();
        Assert.True(KnownCoreCycles.SequenceEqual(cycles), $"RwkvQuant.Core's namespace cycles are now:\n{string.Join("\n", cycles)}");
    }

    [Fact]
    public void Kernels_has_no_namespace_cycle_but_the_known_ones()
    {
        IReadOnlyList<string> cycles = NamespaceDependencies.Read(typeof(KQuantType).Assembly.Location).Cycles();
        Assert.True(KnownKernelsCycles.SequenceEqual(cycles), $"RwkvQuant.Kernels' namespace cycles are now:\n{string.Join("\n", cycles)}");
    }

    [Fact]
    public void The_reader_sees_dependencies_through_signatures_and_method_bodies()
    {
        NamespaceDependencies core = NamespaceDependencies.Read(typeof(RwkvModel).Assembly.Location);
        Assert.Contains("RwkvQuant.Formats", core.Uses["RwkvQuant.Models"]);          // RwkvModel holds TensorData
        Assert.Contains("RwkvQuant.Corpora", core.Uses["RwkvQuant.Calibration"]);     // CalibrationData reads TextCorpus in a body
        Assert.DoesNotContain("RwkvQuant.Evaluation", core.Uses["RwkvQuant.Calibration"]);
    }
}
