using RwkvQuant.Formats;
using RwkvQuant.Models;

namespace RwkvQuant.Tests.Models;

public class RwkvConfigInferenceTests
{
    private static TensorData T(string name, params long[] shape) =>
        TensorData.FromFloats(name, shape, new float[shape.Aggregate(1L, (a, b) => a * b)]);

    private static Dictionary<string, TensorData> Map(params TensorData[] tensors) => tensors.ToDictionary(t => t.Name);

    [Fact]
    public void Infers_v7_heads_from_r_k()
    {
        var tensors = Map(T("emb.weight", 50, 8), T("blocks.0.ln1.weight", 8), T("blocks.1.ln1.weight", 8),
            T("blocks.0.att.k_k", 1, 1, 8), T("blocks.0.att.r_k", 2, 4), T("blocks.0.ffn.key.weight", 32, 8));
        Assert.Equal(new RwkvConfig(RwkvVersion.V7, 2, 8, 50, 2, 4, 32), RwkvConfigInference.Infer(tensors, "m"));
    }

    [Fact]
    public void Tells_v5_1_from_v5_2_by_the_gate()
    {
        var v51 = Map(T("emb.weight", 50, 8), T("blocks.0.ln1.weight", 8), T("blocks.0.att.ln_x.weight", 8),
            T("blocks.0.att.time_decay", 2), T("blocks.0.ffn.key.weight", 32, 8));
        Assert.Equal(new RwkvConfig(RwkvVersion.V5_1, 1, 8, 50, 2, 4, 32), RwkvConfigInference.Infer(v51, "m"));
        var v52 = Map(T("emb.weight", 50, 8), T("blocks.0.ln1.weight", 8), T("blocks.0.att.ln_x.weight", 8),
            T("blocks.0.att.gate.weight", 8, 8), T("blocks.0.att.time_faaaa", 4, 2), T("blocks.0.ffn.key.weight", 32, 8));
        Assert.Equal(new RwkvConfig(RwkvVersion.V5_2, 1, 8, 50, 4, 2, 32), RwkvConfigInference.Infer(v52, "m"));
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
