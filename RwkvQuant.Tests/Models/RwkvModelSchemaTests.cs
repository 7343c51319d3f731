using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.Models;

/// <summary>
/// The one description of a valid model (<see cref="RwkvModelSchema"/>, run by every loader through
/// <see cref="RwkvConfigInference"/>): complete released layouts pass; a missing, swapped, zero-sized or mis-sliced tensor
/// fails with the file and the tensor named; a stored shape with extra dimensions of size 1 loads and runs.
/// </summary>
public class RwkvModelSchemaTests
{
    private static Dictionary<string, IReadOnlyList<long>> Shapes(string model) =>
        SyntheticModels.Layout(SyntheticModels.Find(model)).ToDictionary(e => e.Name, e => (IReadOnlyList<long>)e.Shape, StringComparer.Ordinal);

    public static TheoryData<string> Released => new(SyntheticModels.Shapes.Select(s => s.Name));

    [Theory]
    [MemberData(nameof(Released))]
    public void Every_released_layout_passes(string model)
    {
        RwkvConfig config = RwkvConfigInference.InferFromShapes(Shapes(model), model);
        Assert.Equal(SyntheticModels.Config(SyntheticModels.Find(model)), config);
    }

    [Theory]
    [InlineData("rwkv7-0.1b", "blocks.5.att.a2", null, "tensor is missing")]
    [InlineData("rwkv7-0.1b", "blocks.3.att.a1", new long[] { 64, 768 }, "expected shape [768, 64]")]          // swapped
    [InlineData("rwkv7-0.1b", "blocks.3.att.v2", new long[] { 48, 768 }, "expected shape [32, 768]")]          // the other half of the pair
    [InlineData("rwkv7-0.1b", "blocks.11.ffn.value.weight", new long[] { 768, 0 }, "expected shape [768, 3072]")] // zero-sized
    [InlineData("rwkv7-0.1b", "blocks.0.att.key.weight", new long[] { 768, 384 }, "expected shape [768, 768]")]
    [InlineData("rwkv7-0.1b", "head.weight", new long[] { 1 }, "expected shape [65536, 768]")]
    [InlineData("rwkv6-1.6b", "blocks.2.att.time_maa_w1", new long[] { 2048, 161 }, "five equal LoRA slices")]
    [InlineData("rwkv6-1.6b", "blocks.2.att.time_maa_w2", new long[] { 4, 32, 2048 }, "expected shape [5, 32, 2048]")]
    [InlineData("rwkv6-1.6b", "blocks.23.att.time_faaaa", new long[] { 64, 32 }, "expected shape [32, 64]")]
    public void A_broken_tensor_is_named_with_the_file(string model, string tensor, long[]? shape, string problem)
    {
        Dictionary<string, IReadOnlyList<long>> shapes = Shapes(model);
        if (shape is null)
            shapes.Remove(tensor);
        else
            shapes[tensor] = shape;
        var error = Assert.Throws<InvalidDataException>(() => RwkvConfigInference.InferFromShapes(shapes, "broken.safetensors"));
        Assert.Contains("broken.safetensors", error.Message, StringComparison.Ordinal);
        Assert.Contains($"'{tensor}'", error.Message, StringComparison.Ordinal);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Vectors_stored_as_1_by_1_by_C_or_as_C_are_the_same()
    {
        Dictionary<string, IReadOnlyList<long>> shapes = Shapes("rwkv7-0.1b");
        shapes["blocks.4.att.x_r"] = [768];
        shapes["blocks.4.att.w0"] = [1, 1, 768];
        shapes["blocks.4.att.r_k"] = [12, 64, 1];
        RwkvConfigInference.InferFromShapes(shapes, "m");
    }

    /// <summary>
    /// A LoRA matrix stored as <c>[C, D, 1]</c> used to pass the load and then abort the process inside libtorch's
    /// <c>bmm</c>/<c>matmul</c>; now the network reads every tensor at the shape the schema checked.
    /// </summary>
    [FixtureFact]
    public void A_matrix_stored_with_an_extra_unit_dimension_runs_like_the_original()
    {
        RwkvModel model = GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin"));
        TensorData a1 = model["blocks.1.att.a1"];
        var reshaped = new RwkvModel(model.Config,
            [.. model.Tensors.Values.Select(t => t.Name == a1.Name ? TensorData.FromFloats(a1.Name, [.. a1.Shape, 1], a1.ToFloatArray()) : t)],
            "reshaped.safetensors");
        using RwkvNetwork original = RwkvNetwork.Create(model), changed = RwkvNetwork.Create(reshaped);
        using var scope = torch.NewDisposeScope();
        Tensor tokens = torch.tensor(new long[] { 3, 1, 4, 1, 5, 9 }, [1, 6]);
        Assert.Equal(original.Forward(tokens).data<float>().ToArray(), changed.Forward(tokens).data<float>().ToArray());
    }
}
