using RwkvQuant.Formats;
using RwkvQuant.Models;

namespace RwkvQuant.Tests.Models;

public class RwkvConfigInferenceTests
{
    private static TensorData T(string name, params long[] shape) =>
        TensorData.FromFloats(name, shape, new float[shape.Aggregate(1L, (a, b) => a * b)]);

    private static Dictionary<string, TensorData> Map(params TensorData[] tensors) => tensors.ToDictionary(t => t.Name);

    /// <summary>The canonical shapes of a released model layout (<see cref="SyntheticModels.Layout"/>), by name.</summary>
    private static Dictionary<string, IReadOnlyList<long>> Shapes(string model) =>
        SyntheticModels.Layout(SyntheticModels.Find(model)).ToDictionary(e => e.Name, e => (IReadOnlyList<long>)e.Shape, StringComparer.Ordinal);

    [Fact]
    public void Infers_v7_heads_from_r_k()
    {
        Dictionary<string, IReadOnlyList<long>> shapes = Shapes("rwkv7-0.1b");
        Assert.Equal(new RwkvConfig(RwkvVersion.V7, 12, 768, 65536, 12, 64, 3072), RwkvConfigInference.InferFromShapes(shapes, "m"));
        for (int i = 0; i < 12; i++)
            shapes[$"blocks.{i}.att.r_k"] = [24, 32];
        Assert.Equal(24, RwkvConfigInference.InferFromShapes(shapes, "m").HeadCount);
    }

    [Fact]
    public void Tells_v5_1_from_v5_2_by_the_gate()
    {
        // Whole v5.1 and v5.2 models are inferred from the rwkv.cpp fixtures (GgmlModelLoaderTests); here the markers alone.
        HashSet<string> v51 = ["blocks.0.ln1.weight", "blocks.0.att.ln_x.weight", "blocks.0.att.time_decay"];
        Assert.Equal(RwkvVersion.V5_1, RwkvConfigInference.DetectVersion(v51.Contains));
        v51.Add("blocks.0.att.gate.weight");
        Assert.Equal(RwkvVersion.V5_2, RwkvConfigInference.DetectVersion(v51.Contains));
    }

    [Fact]
    public void Names_the_source_and_the_missing_tensor()
    {
        var tensors = Map(T("emb.weight", 50, 8), T("blocks.0.ln1.weight", 8), T("blocks.0.att.time_maa_x", 1, 1, 8),
            T("blocks.0.ffn.key.weight", 32, 8));
        var error = Assert.Throws<InvalidDataException>(() => RwkvConfigInference.Infer(tensors, "model.pth"));
        Assert.Contains("model.pth", error.Message, StringComparison.Ordinal);
        Assert.Contains("blocks.0.att.time_faaaa", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rejects_heads_that_do_not_make_the_width()
    {
        var tensors = Map(T("emb.weight", 50, 8), T("blocks.0.ln1.weight", 8), T("blocks.0.att.k_k", 1, 1, 8),
            T("blocks.0.att.r_k", 3, 2), T("blocks.0.ffn.key.weight", 32, 8));
        Assert.Throws<InvalidDataException>(() => RwkvConfigInference.Infer(tensors, "m"));
    }
}
