using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Formats.Safetensors;
using RwkvQuant.Inference;
using RwkvQuant.Kernels.Packed;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar;
using RwkvQuant.Scalar.Ggml;
using RwkvQuant.Scalar.KQuants;
using RwkvQuant.Scalar.Rtn;
using RwkvQuant.Vector;
using RwkvQuant.Vector.KMeans;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.ModelFiles;

public sealed class QuantizedModelFileTests : IDisposable
{
    private const string V7 = "tiny-rwkv-7v0-834K-FP32.bin";

    private static readonly Lazy<(RwkvModel Source, QuantizedModel Quantized)> Mixed = new(BuildMixed);

    private readonly string _directory = Directory.CreateTempSubdirectory("rwkvquant-rwkvq-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>
    /// The v7 fixture with its block weights quantized round-robin by RTN 3-bit g64, k-means VQ (int8 and FP16
    /// codebooks) and ggml Q4_0, one Q3_K (or its IQ4_NL fallback) tensor, plus one hand-made symmetric act-order group-scalar tensor; emb/head FP16, rest FP32.
    /// </summary>
    private static (RwkvModel, QuantizedModel) BuildMixed()
    {
        RwkvModel model = RwkvModelFile.Load(Fixtures.Path("rwkvcpp", V7));
        var rtn = new RoundToNearestQuantizer(new RoundToNearestOptions { Bits = 3, GroupSize = 64 });
        var kmeans = new KMeansVectorQuantizer(new KMeansOptions { MaxIterations = 10 });
        var kmeansFp16 = new KMeansVectorQuantizer(new KMeansOptions { MaxIterations = 10, Dimension = 2, CodebookPrecision = CodebookPrecision.Fp16 });
        var q40 = new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q4_0));
        var q3k = new KQuantizer(new KQuantizerOptions(KQuantType.Q3_K));
        var int6 = new RoundToNearestQuantizer(new RoundToNearestOptions { Bits = 3, GroupSize = 32, ScalePrecision = ScalePrecision.Int6 });
        var quantized = new List<QuantizedTensor>();
        int i = 0;
        foreach (LinearWeight weight in LinearWeights.Of(model).Where(w => w.Block >= 0))
        {
            TensorData matrix = weight.ToMatrix(model[weight.Name]);
            if (weight.Name == "blocks.0.att.key.weight")
            {
                quantized.Add(ActOrderTensor(weight.Name, weight.Rows, weight.Columns));
                continue;
            }
            if (weight.Name == "blocks.0.att.output.weight")
            {
                quantized.Add(int6.Quantize(matrix));
                continue;
            }
            if (weight.Name == "blocks.0.ffn.value.weight") // 256+ columns: Q3_K super-blocks; elsewhere the IQ4_NL fallback
            {
                quantized.Add(q3k.Quantize(matrix));
                continue;
            }
            if (weight.Name == "blocks.0.att.value.weight")
            {
                quantized.Add(SvdTensor(weight.Name, weight.Rows, weight.Columns));
                continue;
            }
            quantized.Add((i++ % 4) switch
            {
                0 => rtn.Quantize(matrix),
                2 when weight.Columns % 32 == 0 => q40.Quantize(matrix),
                3 => kmeansFp16.Quantize(matrix),
                _ => kmeans.Quantize(matrix),
            });
        }
        // A vector (not a linear weight) quantized as [1, C]: its values go back in canonical order and shape [1, 1, C].
        quantized.Add(rtn.Quantize(model["blocks.0.att.x_r"].Reshape([1, model.Config.EmbeddingSize])));
        return (model, QuantizedModel.Create(model, quantized));
    }

    private static GroupScalarTensor ActOrderTensor(string name, int rows, int columns)
    {
        var random = new Random(7);
        int groups = (columns + 31) / 32;
        int[] codes = Enumerable.Range(0, rows * columns).Select(_ => random.Next(16)).ToArray();
        float[] scales = Enumerable.Range(0, rows * groups).Select(_ => (float)(Half)(random.NextSingle() * 0.01f)).ToArray();
        int[] order = Enumerable.Range(0, columns).OrderBy(_ => random.Next()).ToArray();
        return new GroupScalarTensor(name, rows, columns, "test", 4, 32, symmetric: true, ScalePrecision.BF16, codes, scales, [], order);
    }

    private static VectorQuantizedTensor SvdTensor(string name, int rows, int columns)
    {
        var random = new Random(11);
        var layout = new VectorLayout(rows, columns, 1, 3, 2, 32);
        double[] codebooks = Enumerable.Range(0, layout.Groups * layout.CodebookLength).Select(_ => random.NextDouble() - 0.5).ToArray();
        int[] codes = Enumerable.Range(0, (int)layout.CodeCount).Select(_ => random.Next(8)).ToArray();
        CodebookStore store = CodebookStore.EncodeSvd(codebooks, layout, 4, codes);
        return new VectorQuantizedTensor(name, layout, codes, store, "test");
    }

    [FixtureFact]
    public void Mixed_model_covers_every_scheme()
    {
        QuantizedModel q = Mixed.Value.Quantized;
        Assert.Contains(q.QuantizedTensors, t => t is GroupScalarTensor { HasPermutation: false });
        Assert.Contains(q.QuantizedTensors, t => t is GroupScalarTensor { HasPermutation: true });
        Assert.Contains(q.QuantizedTensors, t => t is GroupScalarTensor { ScalePrecision: ScalePrecision.Int6 });
        Assert.Contains(q.QuantizedTensors, t => t is VectorQuantizedTensor { CodebookPrecision: CodebookPrecision.Int8WithScale });
        Assert.Contains(q.QuantizedTensors, t => t is VectorQuantizedTensor { CodebookPrecision: CodebookPrecision.Fp16 });
        Assert.Contains(q.QuantizedTensors, t => t is VectorQuantizedTensor { SvdRank: 4 });
        Assert.Contains(q.QuantizedTensors, t => t is GgmlBlockTensor);
        Assert.Contains(q.QuantizedTensors, t => t.Name.EndsWith("att.w1", StringComparison.Ordinal)); // a transposed LoRA matrix
        Assert.Equal(TensorDataType.F16, q.FullPrecisionTensors.Single(t => t.Name == "emb.weight").Type);
        Assert.Equal(TensorDataType.F16, q.FullPrecisionTensors.Single(t => t.Name == "head.weight").Type);
        Assert.All(q.FullPrecisionTensors.Where(t => t.Name is not ("emb.weight" or "head.weight")), t => Assert.Equal(TensorDataType.F32, t.Type));
        Assert.Equal(Mixed.Value.Source.ParameterCount, q.ParameterCount);
    }

    [FixtureFact]
    public void Dequantized_model_puts_each_matrix_back_in_its_canonical_layout()
    {
        var (source, q) = Mixed.Value;
        RwkvModel dequantized = q.ToDequantizedModel();
        Assert.Equal(source.Config, dequantized.Config);
        var linear = LinearWeights.Of(source).ToDictionary(w => w.Name);
        foreach (QuantizedTensor tensor in q.QuantizedTensors)
        {
            TensorData canonical = dequantized[tensor.Name];
            Assert.Equal(source[tensor.Name].Shape, canonical.Shape);
            Assert.Equal(tensor.Dequantize(), linear.TryGetValue(tensor.Name, out LinearWeight? weight)
                ? weight.ToMatrix(canonical).ToFloatArray()
                : canonical.ToFloatArray());
        }
        Assert.Equal([1L, 1, source.Config.EmbeddingSize], dequantized["blocks.0.att.x_r"].Shape);
        Assert.Equal(source["blocks.0.ln1.weight"].ToFloatArray(), dequantized["blocks.0.ln1.weight"].ToFloatArray());
    }

    [FixtureFact]
    public void Save_and_load_give_bit_identical_parts_bits_and_logits()
    {
        QuantizedModel original = Mixed.Value.Quantized;
        string path = Path.Combine(_directory, "model.rwkvq");
        QuantizedModelFile.Save(original, path);
        QuantizedModel loaded = QuantizedModelFile.Load(path);

        Assert.Equal(original.Config, loaded.Config);
        Assert.Equal(original.QuantizedTensors.Select(t => t.Name), loaded.QuantizedTensors.Select(t => t.Name));
        foreach (var (a, b) in original.QuantizedTensors.Zip(loaded.QuantizedTensors))
        {
            Assert.Equal(a.GetType(), b.GetType());
            Assert.Equal(a.Scheme, b.Scheme);
            Assert.Equal(a.StoredBits, b.StoredBits);
            Assert.True(Parts(a).SequenceEqual(Parts(b)), $"{a.Name}: packed parts differ");
            Assert.Equal(a.Dequantize(), b.Dequantize());
        }
        Assert.Equal(original.FullPrecisionTensors.Select(t => t.Name), loaded.FullPrecisionTensors.Select(t => t.Name));
        foreach (var (a, b) in original.FullPrecisionTensors.Zip(loaded.FullPrecisionTensors))
        {
            Assert.Equal(a.Type, b.Type);
            Assert.True(a.Bytes.SequenceEqual(b.Bytes), $"{a.Name} differs");
        }
        Assert.Equal(original.Tensors, loaded.Tensors);
        Assert.Equal(original.StoredBits, loaded.StoredBits);
        Assert.Equal(original.QuantizedBitsPerWeight, loaded.QuantizedBitsPerWeight);

        float[] expected = Logits(original.ToDequantizedModel());
        Assert.Equal(expected, Logits(loaded.ToDequantizedModel()));
        Assert.Equal(expected, Logits(RwkvModelFile.Load(path))); // what info/eval/generate load
    }

    [FixtureFact]
    public void Reported_bits_per_weight_are_the_stored_bits_over_the_parameters()
    {
        QuantizedModel q = Mixed.Value.Quantized;
        long quantizedBits = 0, quantizedParameters = 0;
        foreach (QuantizedTensor tensor in q.QuantizedTensors)
        {
            quantizedBits += tensor.StoredBits;
            quantizedParameters += tensor.ElementCount;
        }
        Assert.Equal(quantizedBits, q.QuantizedStoredBits);
        Assert.Equal((double)quantizedBits / quantizedParameters, q.QuantizedBitsPerWeight);

        long fullBits = q.FullPrecisionTensors.Sum(t => t.ElementCount * (t.Name is "emb.weight" or "head.weight" ? 16 : 32));
        long parameters = quantizedParameters + q.FullPrecisionTensors.Sum(t => t.ElementCount);
        Assert.Equal((double)(quantizedBits + fullBits) / parameters, q.BitsPerWeight);
        Assert.Equal(q.StoredBits, q.Tensors.Sum(t => t.StoredBits));
        // RTN 3-bit g64 with FP16 scale and zero stores 3.5 bits per weight when the columns are a multiple of 64.
        Assert.All(q.QuantizedTensors.OfType<GroupScalarTensor>().Where(t => t.Method == "rtn" && t.Columns % 64 == 0 && t.ScalePrecision == ScalePrecision.F16),
            t => Assert.Equal(3.5, t.BitsPerWeight));
        // Int6 in groups of 32 over 64 columns: 3 + 12/32 + one 16-bit step per row's (short) super-block of 2 groups, 16/64.
        Assert.Equal(3.625, q.QuantizedTensors.OfType<GroupScalarTensor>().Single(t => t.ScalePrecision == ScalePrecision.Int6).BitsPerWeight);
    }

    [FixtureFact]
    public void Cancelling_the_save_leaves_no_file_and_keeps_an_existing_one()
    {
        QuantizedModel q = Mixed.Value.Quantized;
        string path = Path.Combine(_directory, "cancelled.rwkvq");
        using (var cancellation = new CancellationTokenSource())
        {
            Assert.ThrowsAny<OperationCanceledException>(() =>
                QuantizedModelFile.Save(q, path, _ => cancellation.Cancel(), cancellation.Token));
        }
        Assert.Empty(Directory.GetFileSystemEntries(_directory));

        File.WriteAllText(path, "previous");
        using (var cancellation = new CancellationTokenSource())
        {
            int seen = 0;
            Assert.ThrowsAny<OperationCanceledException>(() =>
                QuantizedModelFile.Save(q, path, _ => { if (++seen == 5) cancellation.Cancel(); }, cancellation.Token));
        }
        Assert.Equal("previous", File.ReadAllText(path));
        Assert.Single(Directory.GetFileSystemEntries(_directory));
    }

    [FixtureFact]
    public void A_writer_left_without_completing_leaves_nothing_and_refuses_a_name_twice()
    {
        QuantizedModel q = Mixed.Value.Quantized;
        string path = Path.Combine(_directory, "unfinished.rwkvq");
        using (var writer = new QuantizedModelWriter(path, q.Config))
        {
            writer.Add(q.Slots[0]);
            Assert.Single(Directory.EnumerateFileSystemEntries(_directory)); // the hidden spill file, while writing
            Assert.Throws<ArgumentException>(() => writer.Add(q.Slots[0]));
            Assert.Throws<ArgumentException>(() => writer.Add(q.FullPrecisionTensors[0].WithName(q.Slots[0].Tensor.Name)));
        }
        Assert.Empty(Directory.EnumerateFileSystemEntries(_directory));

        var missing = Assert.Throws<DirectoryNotFoundException>(() => new QuantizedModelWriter(Path.Combine(_directory, "no", "x.rwkvq"), q.Config));
        Assert.Contains(Path.Combine(_directory, "no", "x.rwkvq"), missing.Message, StringComparison.Ordinal);
    }

    [FixtureFact]
    public void Tensors_written_one_by_one_in_any_order_load_as_the_model()
    {
        QuantizedModel q = Mixed.Value.Quantized;
        string path = Path.Combine(_directory, "reversed.rwkvq");
        using (var writer = new QuantizedModelWriter(path, q.Config))
        {
            foreach (TensorData tensor in q.FullPrecisionTensors.Reverse())
                writer.Add(tensor);
            foreach (QuantizedSlot slot in q.Slots.Reverse())
                writer.Add(slot);
            writer.Complete();
        }
        QuantizedModel loaded = QuantizedModelFile.Load(path);
        Assert.Equal(q.Tensors, loaded.Tensors);
        Assert.All(q.QuantizedTensors.Zip(loaded.QuantizedTensors), pair => Assert.Equal(pair.First.Dequantize(), pair.Second.Dequantize()));
        Assert.Single(Directory.EnumerateFileSystemEntries(_directory));
    }

    [FixtureFact]
    public void Create_rejects_a_tensor_that_does_not_match_the_model()
    {
        RwkvModel source = Mixed.Value.Source;
        QuantizedTensor wrong = new RoundToNearestQuantizer().Quantize(TensorData.FromFloats("blocks.0.att.receptance.weight", [2, 64], new float[128]));
        Assert.Throws<ArgumentException>(() => QuantizedModel.Create(source, [wrong]));
        QuantizedTensor unknown = new RoundToNearestQuantizer().Quantize(TensorData.FromFloats("blocks.0.nothing", [2, 64], new float[128]));
        Assert.Throws<ArgumentException>(() => QuantizedModel.Create(source, [unknown]));
    }

    public static TheoryData<string> BadFileCases() =>
    [
        "wrong format id", "unsupported version", "bad tensors json", "bad config json", "config contradicts tensors", "missing part", "part size",
        "part dtype", "canonical shape", "unknown scheme", "stored bits", "bad field", "extra part", "integer full-precision",
        "NaN scale", "infinite zero",
    ];

    [FixtureTheory]
    [MemberData(nameof(BadFileCases))]
    public void Bad_files_are_rejected_naming_the_file_and_tensor(string badCase)
    {
        QuantizedModel q = Mixed.Value.Quantized;
        string good = Path.Combine(_directory, "good.rwkvq");
        QuantizedModelFile.Save(q, good);
        SafetensorsFile file = SafetensorsReader.Read(good);
        var metadata = new Dictionary<string, string>(file.Metadata);
        var tensors = file.Tensors.ToList();
        string rtn = q.QuantizedTensors.First(t => t is GroupScalarTensor { Method: "rtn" }).Name;
        string? tensor = rtn;
        int Index(string name) => tensors.FindIndex(t => t.Name == name);
        switch (badCase)
        {
            case "wrong format id":
                metadata["format"] = "rwkvquant-fp";
                tensor = null;
                break;
            case "unsupported version":
                metadata["format_version"] = "2";
                tensor = null;
                break;
            case "bad tensors json":
                metadata["tensors"] = metadata["tensors"][..^3];
                tensor = null;
                break;
            case "bad config json":
                metadata["config"] = "{\"version\": \"V9\"}";
                tensor = null;
                break;
            case "config contradicts tensors":
                metadata["config"] = metadata["config"].Replace("\"layers\":12", "\"layers\":11", StringComparison.Ordinal);
                Assert.Contains("\"layers\":11", metadata["config"], StringComparison.Ordinal);
                tensor = null;
                break;
            case "missing part":
                tensors.RemoveAt(Index(rtn + ".scales"));
                break;
            case "part size":
                TensorData codes = tensors[Index(rtn + ".codes")];
                tensors[Index(rtn + ".codes")] = new TensorData(codes.Name, TensorDataType.U8, [codes.ElementCount - 1], codes.Bytes[1..].ToArray());
                break;
            case "part dtype":
                TensorData scales = tensors[Index(rtn + ".scales")];
                tensors[Index(rtn + ".scales")] = new TensorData(scales.Name, TensorDataType.BF16, scales.Shape, scales.Bytes.ToArray());
                break;
            case "canonical shape":
                metadata["tensors"] = ReplaceField(metadata["tensors"], rtn, "\"shape\":[", "\"shape\":[3,");
                break;
            case "unknown scheme":
                metadata["tensors"] = ReplaceField(metadata["tensors"], rtn, "\"scheme\":\"group_scalar\"", "\"scheme\":\"mystery\"");
                break;
            case "stored bits":
                metadata["tensors"] = ReplaceField(metadata["tensors"], rtn, "\"stored_bits\":", "\"stored_bits\":1");
                break;
            case "bad field":
                metadata["tensors"] = ReplaceField(metadata["tensors"], rtn, "\"bits\":3", "\"bits\":\"3\"");
                break;
            case "extra part":
                tensors.Add(new TensorData(rtn + ".extra", TensorDataType.U8, [1], [0]));
                break;
            case "NaN scale" or "infinite zero":
                // Both used to load: the dequantized model gave NaN logits, the engine finite but wrong ones.
                string part = rtn + (badCase == "NaN scale" ? ".scales" : ".zeros");
                TensorData stored = tensors[Index(part)];
                Assert.Equal(TensorDataType.F16, stored.Type);
                byte[] bytes = stored.Bytes.ToArray();
                BitConverter.TryWriteBytes(bytes.AsSpan(2 * 5), badCase == "NaN scale" ? Half.NaN : Half.PositiveInfinity);
                tensors[Index(part)] = new TensorData(stored.Name, stored.Type, stored.Shape, bytes);
                break;
            case "integer full-precision":
                tensors.Add(new TensorData("blocks.0.something", TensorDataType.I32, [1], new byte[4]));
                tensor = "blocks.0.something";
                break;
        }
        string bad = Path.Combine(_directory, "bad.rwkvq");
        SafetensorsWriter.Write(bad, tensors, metadata);

        var error = Assert.Throws<InvalidDataException>(() => QuantizedModelFile.Load(bad));
        Assert.Contains(bad, error.Message, StringComparison.Ordinal);
        if (tensor is not null)
            Assert.Equal(tensor, error.Data[ModelFileError.TensorNameKey]);

        // The engine reads the file tensor by tensor, and checks it as completely, with the same message.
        // (A file that is not a .rwkvq is, to the engine, another model file: it fails as that, still naming the file.)
        var engineError = Assert.Throws<InvalidDataException>(() => RwkvEngine.Load(bad));
        if (badCase == "wrong format id")
            Assert.Contains(bad, engineError.Message, StringComparison.Ordinal);
        else
            Assert.Equal(error.Message, engineError.Message);
        File.Delete(bad); // the engine closed it (on Windows an open file could not be deleted)
    }

    /// <summary>Replaces the first <paramref name="from"/> inside tensor <paramref name="name"/>'s JSON entry.</summary>
    private static string ReplaceField(string json, string name, string from, string to)
    {
        int start = json.IndexOf($"\"{name}\":", StringComparison.Ordinal);
        int at = json.IndexOf(from, start, StringComparison.Ordinal);
        Assert.True(start >= 0 && at >= 0, $"'{from}' not found in the entry of {name}");
        return json[..at] + to + json[(at + from.Length)..];
    }

    /// <summary>Every stored part of a quantized tensor, concatenated.</summary>
    private static byte[] Parts(QuantizedTensor tensor) => tensor switch
    {
        GroupScalarTensor t => [.. t.PackedCodes, .. t.StoredScales, .. t.StoredZeros, .. t.PackedPermutation],
        VectorQuantizedTensor t => [.. t.PackedCodes, .. System.Runtime.InteropServices.MemoryMarshal.AsBytes(t.Codebooks.Int8),
            .. System.Runtime.InteropServices.MemoryMarshal.AsBytes(t.Codebooks.Int8Scales), .. System.Runtime.InteropServices.MemoryMarshal.AsBytes(t.Codebooks.Fp16),
            .. System.Runtime.InteropServices.MemoryMarshal.AsBytes(t.Codebooks.SvdU), .. System.Runtime.InteropServices.MemoryMarshal.AsBytes(t.Codebooks.SvdV)],
        GgmlBlockTensor t => t.Blocks.ToArray(),
        KQuantTensor t => t.Blocks.ToArray(),
        _ => throw new ArgumentException(tensor.GetType().Name),
    };

    private static float[] Logits(RwkvModel model)
    {
        using RwkvNetwork network = RwkvNetwork.Create(model);
        using var scope = NewDisposeScope();
        return network.Forward(tensor(new long[] { 34, 105, 110 }, [1, 3])).data<float>().ToArray();
    }
}

/// <summary>
/// <see cref="QuantizedModelFile.CheckDeclaredSize"/>: a .rwkvq header may not declare tensors that would expand its
/// stored bytes more than <see cref="QuantizedModelFile.MaxExpansion"/>-fold (a vector-quantized description with
/// 1,024-value vectors and 1-bit codes would expand 32,768-fold); every real file passes it (the round-trip tests above).
/// </summary>
public class QuantizedModelDeclaredSizeTests
{
    [Fact]
    public void Tensors_that_would_expand_the_file_beyond_the_bound_are_refused_naming_it()
    {
        IReadOnlyList<long>[] shapes = [[4096, 4096], [4096]];
        long floatBytes = (4096L * 4096 + 4096) * 4;
        QuantizedModelFile.CheckDeclaredSize(shapes, floatBytes / QuantizedModelFile.MaxExpansion, "ok.rwkvq");
        var error = Assert.Throws<InvalidDataException>(() => QuantizedModelFile.CheckDeclaredSize(shapes, floatBytes / 32768, "hostile.rwkvq"));
        Assert.Contains("hostile.rwkvq", error.Message, StringComparison.Ordinal);
        Assert.Contains("16,781,312 parameters", error.Message, StringComparison.Ordinal);
    }
}
