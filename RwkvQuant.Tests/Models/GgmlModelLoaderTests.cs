using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Models;

namespace RwkvQuant.Tests.Models;

public class GgmlModelLoaderTests
{
    [FixtureTheory]
    [InlineData("tiny-rwkv-4v0-660K-FP32.bin", RwkvVersion.V4, 4, 128, 1, 1, 256)]
    [InlineData("tiny-rwkv-4v0-660K-FP16.bin", RwkvVersion.V4, 4, 128, 1, 1, 256)]
    [InlineData("tiny-rwkv-5v1-730K-FP32.bin", RwkvVersion.V5_1, 12, 64, 8, 8, 256)]
    [InlineData("tiny-rwkv-5v2-730K-FP16.bin", RwkvVersion.V5_2, 12, 64, 8, 8, 256)]
    [InlineData("tiny-rwkv-6v0-1m-FP32.bin", RwkvVersion.V6, 12, 64, 8, 8, 224)]
    [InlineData("tiny-rwkv-6v0-1m-FP16.bin", RwkvVersion.V6, 12, 64, 8, 8, 224)]
    [InlineData("tiny-rwkv-7v0-834K-FP32.bin", RwkvVersion.V7, 12, 64, 1, 64, 256)]
    [InlineData("tiny-rwkv-7v0-834K-FP16.bin", RwkvVersion.V7, 12, 64, 1, 64, 256)]
    public void Infers_the_config(string file, RwkvVersion version, int layers, int width, int heads, int headSize, int ffn)
    {
        RwkvModel model = GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", file));
        Assert.Equal(new RwkvConfig(version, layers, width, 256, heads, headSize, ffn), model.Config);
    }

    [FixtureFact]
    public void Restores_canonical_v7_names_and_shapes()
    {
        RwkvModel model = GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin"));
        Assert.False(model.Tensors.ContainsKey("blocks.0.att.x_rwkvag"));
        foreach (string vector in GgmlConverterTransforms.V7ShiftVectors)
            Assert.Equal(new long[] { 1, 1, 64 }, model[$"blocks.3.att.{vector}"].Shape);
        Assert.Equal(new long[] { 64, 32 }, model["blocks.0.att.w1"].Shape); // (C, D)
        Assert.Equal(new long[] { 32, 64 }, model["blocks.0.att.w2"].Shape); // (D, C)
        Assert.Equal(new long[] { 1, 64 }, model["blocks.0.att.r_k"].Shape);

        var (_, records) = GgmlReader.Read(Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin"));
        float[] stored = records.Single(r => r.Name == "blocks.3.att.x_rwkvag").ToTensorData().ToFloatArray();
        Assert.Equal(stored.AsSpan(64 * 2, 64).ToArray(), model["blocks.3.att.x_k"].ToFloatArray());
        float[] w1Stored = records.Single(r => r.Name == "blocks.0.att.w1").ToTensorData().ToFloatArray(); // (D, C)
        float[] w1 = model["blocks.0.att.w1"].ToFloatArray(); // (C, D)
        Assert.Equal(w1Stored[5 * 64 + 7], w1[7 * 32 + 5]);
    }

    [FixtureFact]
    public void Restores_canonical_v6_shapes()
    {
        RwkvModel model = GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", "tiny-rwkv-6v0-1m-FP32.bin"));
        Assert.Equal(new long[] { 1, 1, 64 }, model["blocks.0.att.time_maa_x"].Shape);
        Assert.Equal(new long[] { 1, 1, 64 }, model["blocks.0.ffn.time_maa_r"].Shape);
        Assert.Equal(new long[] { 64, 160 }, model["blocks.0.att.time_maa_w1"].Shape);
        Assert.Equal(new long[] { 5, 32, 64 }, model["blocks.0.att.time_maa_w2"].Shape);
        Assert.Equal(new long[] { 1, 1, 64 }, model["blocks.0.att.time_decay"].Shape);
        Assert.Equal(new long[] { 64, 64 }, model["blocks.0.att.time_decay_w1"].Shape);
        Assert.Equal(new long[] { 8, 8 }, model["blocks.0.att.time_faaaa"].Shape);

        var (_, records) = GgmlReader.Read(Fixtures.Path("rwkvcpp", "tiny-rwkv-6v0-1m-FP32.bin"));
        float[] w2Stored = records.Single(r => r.Name == "blocks.0.att.time_maa_w2").ToTensorData().ToFloatArray(); // (5, C, D)
        float[] w2 = model["blocks.0.att.time_maa_w2"].ToFloatArray(); // (5, D, C)
        Assert.Equal(w2Stored[(3 * 64 + 10) * 32 + 20], w2[(3 * 32 + 20) * 64 + 10]);
    }

    [FixtureFact]
    public void Undoes_the_v4_and_v5_decay_transforms()
    {
        RwkvModel v4 = GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", "tiny-rwkv-4v0-660K-FP32.bin"));
        RwkvModel v51 = GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", "tiny-rwkv-5v1-730K-FP32.bin"));
        RwkvModel v52 = GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", "tiny-rwkv-5v2-730K-FP32.bin"));
        float v4Stored = StoredValue("tiny-rwkv-4v0-660K-FP32.bin", "blocks.1.att.time_decay", 5);
        Assert.Equal(v4Stored, -MathF.Exp(v4["blocks.1.att.time_decay"].ToFloatArray()[5]), 1e-6f);
        float v51Stored = StoredValue("tiny-rwkv-5v1-730K-FP32.bin", "blocks.1.att.time_first", 3);
        Assert.Equal(new long[] { 8 }, v51["blocks.1.att.time_first"].Shape);
        Assert.Equal(v51Stored, MathF.Exp(v51["blocks.1.att.time_first"].ToFloatArray()[3]), 1e-6f);
        float v52Stored = StoredValue("tiny-rwkv-5v2-730K-FP32.bin", "blocks.1.att.time_decay", 9);
        Assert.Equal(new long[] { 8, 8 }, v52["blocks.1.att.time_decay"].Shape);
        Assert.Equal(v52Stored, MathF.Exp(-MathF.Exp(v52["blocks.1.att.time_decay"].ToFloatArray()[9])), 1e-6f);
        Assert.Equal(new long[] { 1, 1, 64 }, v52["blocks.1.att.time_mix_g"].Shape);
    }

    [FixtureTheory]
    [InlineData("tiny-rwkv-6v0-1m-FP32.bin", GgmlType.F32)]
    [InlineData("tiny-rwkv-6v0-1m-FP16.bin", GgmlType.F16)]
    [InlineData("tiny-rwkv-7v0-834K-FP32.bin", GgmlType.F32)]
    [InlineData("tiny-rwkv-7v0-834K-FP16.bin", GgmlType.F16)]
    public void Writes_back_the_converter_file_byte_for_byte(string file, GgmlType type)
    {
        string path = Fixtures.Path("rwkvcpp", file);
        RwkvModel model = GgmlModelLoader.Load(path);
        using var written = new MemoryStream();
        GgmlModelWriter.Write(model, written, type);
        Assert.Equal(File.ReadAllBytes(path), written.ToArray());
    }

    [FixtureTheory]
    [InlineData("tiny-rwkv-4v0-660K-FP32.bin")]
    [InlineData("tiny-rwkv-5v1-730K-FP32.bin")]
    [InlineData("tiny-rwkv-5v2-730K-FP32.bin")]
    public void Round_trips_v4_and_v5_within_float_rounding(string file)
    {
        RwkvModel model = GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", file));
        using var written = new MemoryStream();
        GgmlModelWriter.Write(model, written, GgmlType.F32);
        written.Position = 0;
        RwkvModel back = GgmlModelLoader.Load(written, "written.bin");
        Assert.Equal(model.Config, back.Config);
        Assert.Equal(model.Tensors.Keys, back.Tensors.Keys);
        foreach (TensorData tensor in model.Tensors.Values)
        {
            TensorData other = back[tensor.Name];
            Assert.Equal(tensor.Shape, other.Shape);
            float[] a = tensor.ToFloatArray(), b = other.ToFloatArray();
            for (int i = 0; i < a.Length; i++)
                Assert.True(MathF.Abs(a[i] - b[i]) <= 1e-5f * MathF.Max(1, MathF.Abs(a[i])), $"{tensor.Name}[{i}]: {a[i]} vs {b[i]}");
        }
    }

    [FixtureFact]
    public void Fp16_file_keeps_vectors_in_fp32()
    {
        RwkvModel model = GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin"));
        using var written = new MemoryStream();
        GgmlModelWriter.Write(model, written, GgmlType.F16);
        written.Position = 0;
        var (header, records) = GgmlReader.Read(written, "written.bin");
        Assert.Equal(GgmlType.F16, header.DataType);
        Assert.Equal(GgmlType.F32, records.Single(r => r.Name == "blocks.0.att.x_rwkvag").Type);
        Assert.Equal(GgmlType.F32, records.Single(r => r.Name == "blocks.0.att.r_k").Type);
        Assert.Equal(GgmlType.F32, records.Single(r => r.Name == "blocks.0.ln1.weight").Type);
        Assert.Equal(GgmlType.F16, records.Single(r => r.Name == "blocks.0.att.w1").Type);
        Assert.Equal(GgmlType.F16, records.Single(r => r.Name == "head.weight").Type);
    }

    [Fact]
    public void Writer_rejects_quantized_types()
    {
        var config = new RwkvConfig(RwkvVersion.V4, 1, 1, 1, 1, 1, 1);
        var model = new RwkvModel(config, [TensorData.FromFloats("emb.weight", [1, 1], [0f])]);
        Assert.Throws<ArgumentException>(() => GgmlModelWriter.Write(model, new MemoryStream(), GgmlType.Q5_1));
    }

    private static float StoredValue(string file, string name, int index)
    {
        var (_, records) = GgmlReader.Read(Fixtures.Path("rwkvcpp", file));
        return records.Single(r => r.Name == name).ToTensorData().ToFloatArray()[index];
    }
}
