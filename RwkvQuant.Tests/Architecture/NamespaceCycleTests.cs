using RwkvQuant.Kernels.Packed;
using RwkvQuant.Models;

namespace RwkvQuant.Tests.Architecture;

/// <summary>
/// Namespace cycles, read from the built assemblies' metadata (<see cref="NamespaceDependencies"/>): RwkvQuant.Core
/// (formats → models → quantizers → model files → pipeline → comparison, each using only what is below it) and
/// RwkvQuant.Kernels (packed layouts → products) have none, and any new one fails here.
/// </summary>
public class NamespaceCycleTests
{
    [Fact]
    public void Core_has_no_namespace_cycle()
    {
        IReadOnlyList<string> cycles = NamespaceDependencies.Read(typeof(RwkvModel).Assembly.Location).Cycles();
        Assert.True(cycles.Count == 0, $"RwkvQuant.Core's namespaces use each other in a cycle:\n{string.Join("\n", cycles)}");
    }

    [Fact]
    public void Kernels_has_no_namespace_cycle()
    {
        NamespaceDependencies kernels = NamespaceDependencies.Read(typeof(KQuantType).Assembly.Location);
        IReadOnlyList<string> cycles = kernels.Cycles();
        Assert.True(cycles.Count == 0, $"RwkvQuant.Kernels' namespaces use each other in a cycle:\n{string.Join("\n", cycles)}");
        Assert.Contains("RwkvQuant.Kernels.Packed", kernels.Uses["RwkvQuant.Kernels.MatVec"]);   // products read the layouts,
        Assert.DoesNotContain("RwkvQuant.Kernels.MatVec", kernels.Uses["RwkvQuant.Kernels.Packed"]); // never the reverse
    }

    [Fact]
    public void Core_layers_point_down()
    {
        NamespaceDependencies core = NamespaceDependencies.Read(typeof(RwkvModel).Assembly.Location);
        IEnumerable<string> Uses(string ns) => core.Uses.TryGetValue(ns, out HashSet<string>? used) ? used : [];
        foreach (string format in core.Uses.Keys.Where(n => n.StartsWith("RwkvQuant.Formats", StringComparison.Ordinal)))
            Assert.DoesNotContain(Uses(format), n => n is "RwkvQuant.Models" or "RwkvQuant.ModelFiles" or "RwkvQuant.Pipeline"); // containers hold tensors only
        Assert.DoesNotContain("RwkvQuant.ModelFiles", Uses("RwkvQuant.Models"));       // a model does not know the files it comes from
        Assert.DoesNotContain("RwkvQuant.Pipeline", Uses("RwkvQuant.ModelFiles"));     // .rwkvq is read without the quantizer
        Assert.DoesNotContain("RwkvQuant.Pipeline", Uses("RwkvQuant.Evaluation"));     // measuring needs no quantizer
        Assert.DoesNotContain("RwkvQuant.Comparison", Uses("RwkvQuant.Pipeline"));     // the comparison is an app of the pipeline
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
