using RwkvQuant.Codebooks;
using RwkvQuant.Formats;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.ModelFiles;

public sealed class MultiplicationVectorCodecTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("rwkvquant-qvec-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [FixtureFact]
    public void Codebook_vectors_round_trip_bit_identically()
    {
        RwkvModel model = RwkvModelFile.Load(Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin"));
        var optimizer = new ActivationWeightedCodebookOptimizer();
        var random = new Random(3);
        var quantized = model.Tensors.Values
            .Where(t => t.Name.StartsWith("blocks.", StringComparison.Ordinal) && (t.Name.EndsWith(".att.x_r", StringComparison.Ordinal) || t.Name.EndsWith(".att.k_k", StringComparison.Ordinal) || t.Name.EndsWith(".att.r_k", StringComparison.Ordinal)))
            .Select(t => new MultiplicationVectorTensor(optimizer.Quantize(t, Enumerable.Range(0, (int)t.ElementCount).Select(_ => random.NextSingle() + 0.01f).ToArray())))
            .ToList();
        Assert.True(quantized.Count >= 6);
        QuantizedModel q = QuantizedModel.Create(model, quantized);
        string path = Path.Combine(_directory, "v.rwkvq");
        QuantizedModelFile.Save(q, path);
        QuantizedModel loaded = QuantizedModelFile.Load(path);

        Assert.Equal(q.StoredBits, loaded.StoredBits);
        foreach (MultiplicationVectorTensor original in quantized)
        {
            var back = Assert.IsType<MultiplicationVectorTensor>(Assert.Single(loaded.QuantizedTensors, t => t.Name == original.Name));
            Assert.Equal(original.Vector.Shape, back.Vector.Shape);
            Assert.Equal(original.Scheme, back.Scheme);
            Assert.Equal(original.StoredBits, back.StoredBits);
            Assert.Equal(original.Vector.PackedCodes.ToArray(), back.Vector.PackedCodes.ToArray());
            Assert.Equal(original.Vector.Codebooks.Int8.ToArray(), back.Vector.Codebooks.Int8.ToArray());
            Assert.Equal(original.Vector.Codebooks.Int8Scales.ToArray(), back.Vector.Codebooks.Int8Scales.ToArray());
            Assert.Equal(original.Dequantize(), back.Dequantize());
        }
        // The dequantized vector is in the model in its canonical shape, and the logits are bit-identical.
        TensorData xr = q.ToDequantizedModel()["blocks.0.att.x_r"];
        Assert.Equal(model["blocks.0.att.x_r"].Shape, xr.Shape);
        Assert.Equal(quantized.First(t => t.Name == "blocks.0.att.x_r").Dequantize(), xr.ToFloatArray());
        Assert.Equal(Logits(q.ToDequantizedModel()), Logits(loaded.ToDequantizedModel()));
    }

    private static float[] Logits(RwkvModel model)
    {
        using RwkvNetwork network = RwkvNetwork.Create(model);
        using var scope = NewDisposeScope();
        return network.Forward(tensor(new long[] { 34, 105, 110 }, [1, 3])).data<float>().ToArray();
    }
}
