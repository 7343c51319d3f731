using RwkvQuant.Calibration;
using RwkvQuant.Corpora;
using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Kernels.Packed;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;
using RwkvQuant.Proxy;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar.Ggml;
using RwkvQuant.Scalar.Gptq;
using RwkvQuant.Scalar.KQuants;
using RwkvQuant.Scalar.Rtn;
using RwkvQuant.Tokenizers;
using RwkvQuant.Vector.Gptvq;
using RwkvQuant.Vector.KMeans;

namespace RwkvQuant.Tests.Pipeline;

/// <summary>The pipeline of one method (<see cref="FixedSelector"/>), its per-tensor pins and kept matrices, and the calibration-free path.</summary>
public sealed class PipelineWithoutCalibrationTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("rwkvquant-weights-only-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static RwkvModel V7() => RwkvModelFile.Load(Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin"));

    private static CalibrationData Calibration() => CalibrationData.FromCorpus(Fixtures.Path("text", "lambada_test.jsonl"),
        DocumentRange.Parse("0..15"), ByteTokenizer.Instance, new CalibrationOptions { SampleCount = 3, TokensPerSample = 48, BatchSize = 3 });

    private static GptvqQuantizer Gptvq() => new(new GptvqOptions { Codebooks = new KMeansOptions { MaxIterations = 10 } });

    [Fact]
    public void A_fixed_selector_makes_its_one_choice_for_every_weight()
    {
        TensorData weight = TensorData.FromFloats("w", [2, 2], [1, 2, 3, 4]);
        Assert.Equal(QuantizationChoice.Scalar, FixedSelector.Scalar.Choose(weight).Choice);
        Assert.Equal(QuantizationChoice.Vector, FixedSelector.Vector.Choose(weight).Choice);
        Assert.Null(FixedSelector.Vector.Choose(weight).Score);
        Assert.Throws<ArgumentOutOfRangeException>(() => new FixedSelector((QuantizationChoice)7));
    }

    [FixtureFact]
    public async Task Whether_calibration_is_needed_follows_the_quantizers_the_selector_can_reach()
    {
        HybridQuantizer q4 = HybridQuantizer.CreateBuilder().UseSelector(FixedSelector.Scalar)
            .UseScalar(new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q4_0))).UseVector(Gptvq()).Build();
        Assert.False(q4.RequiresCalibration); // GPTVQ is unreachable
        Assert.False(q4.UsesImportance);
        HybridQuantizer pinned = HybridQuantizer.CreateBuilder().UseSelector(FixedSelector.Scalar)
            .UseScalar(new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q4_0))).UseVector(Gptvq()).PinVector("blocks.0.att.key.weight").Build();
        Assert.True(pinned.RequiresCalibration); // a pin reaches GPTVQ
        HybridQuantizer proxy = HybridQuantizer.CreateBuilder()
            .UseScalar(new RoundToNearestQuantizer()).UseVector(Gptvq()).Build();
        Assert.True(proxy.RequiresCalibration); // the proxy may send a matrix to GPTVQ
        HybridQuantizer imat = HybridQuantizer.CreateBuilder().UseSelector(FixedSelector.Scalar)
            .UseScalar(new KQuantizer(new KQuantizerOptions(KQuantType.Q3_K, useImportance: true))).UseVector(Gptvq()).Build();
        Assert.False(imat.RequiresCalibration);
        Assert.True(imat.UsesImportance);
        HybridQuantizer gptq = HybridQuantizer.CreateBuilder().UseSelector(FixedSelector.Scalar).UseScalar(new GptqQuantizer()).UseVector(Gptvq()).Build();
        Assert.True(gptq.RequiresCalibration);

        RwkvModel model = V7();
        InvalidOperationException needsCalibration = await Assert.ThrowsAsync<InvalidOperationException>(() => gptq.QuantizeWithoutCalibrationAsync(model, null));
        Assert.Contains("needs a calibration pass", needsCalibration.Message, StringComparison.Ordinal);
        InvalidOperationException needsImportance = await Assert.ThrowsAsync<InvalidOperationException>(() => imat.QuantizeWithoutCalibrationAsync(model, null));
        Assert.Contains("importance matrix", needsImportance.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Keep_and_pins_refuse_a_second_rule_for_the_same_tensor()
    {
        HybridQuantizerBuilder builder = HybridQuantizer.CreateBuilder().Keep("a");
        Assert.Throws<InvalidOperationException>(() => builder.Keep("a"));
        Assert.Throws<InvalidOperationException>(() => builder.PinScalar("a"));
        builder.PinVector("b");
        Assert.Throws<InvalidOperationException>(() => builder.PinScalar("b"));
        Assert.Throws<InvalidOperationException>(() => builder.Keep("b"));
    }

    [FixtureFact]
    public async Task Without_calibration_every_matrix_is_what_its_quantizer_makes_of_it_and_kept_ones_stay_f32()
    {
        RwkvModel model = V7();
        var q4 = new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q4_0));
        var q8 = new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q8_0));
        HybridQuantizer quantizer = HybridQuantizer.CreateBuilder().UseSelector(FixedSelector.Scalar).UseScalar(q4).UseVector(Gptvq())
            .PinScalar("blocks.1.ffn.key.weight", q8).Keep("blocks.0.att.output.weight").Build();
        string path = Path.Combine(_directory, "q4.rwkvq");
        HybridQuantizationResult result = await quantizer.QuantizeWithoutCalibrationToFileAsync(model, null, path);
        QuantizedModel q = QuantizedModelFile.Load(path);

        foreach (LinearWeight weight in LinearWeights.Of(model).Where(w => w.Block >= 0 && w.Name != "blocks.0.att.output.weight"))
        {
            string name = weight.Name;
            var stored = (GgmlBlockTensor)q.QuantizedTensors.Single(t => t.Name == name);
            TensorData matrix = weight.ToMatrix(model[name]); // LoRA matrices are stored transposed
            var expected = (GgmlBlockTensor)(name == "blocks.1.ffn.key.weight" ? q8 : q4).Quantize(matrix);
            Assert.Equal(expected.Type, stored.Type);
            Assert.Equal(expected.Blocks.ToArray(), stored.Blocks.ToArray());
            HybridTensorReport report = result.Tensors.Single(t => t.Name == name);
            float[] w = matrix.ToFloatArray(), d = expected.Dequantize();
            double error = w.Zip(d, (a, b) => (double)(a - b) * (a - b)).Sum(), reference = w.Sum(a => (double)a * a);
            Assert.Equal(error / reference, report.RelativeError!.Value, 1e-9); // unweighted without importances
        }
        TensorData kept = q.FullPrecisionTensors.Single(t => t.Name == "blocks.0.att.output.weight");
        Assert.Equal(model["blocks.0.att.output.weight"].ToFloatArray(), kept.ToFloatArray());
        HybridTensorReport keptReport = result.Tensors.Single(t => t.Name == "blocks.0.att.output.weight");
        Assert.Equal((HybridTensorKind.Matrix, HybridMethod.Kept), (keptReport.Kind, keptReport.Method));
        Assert.Equal(0, result.Phases.Where(p => p.Phase == QuantizationPhase.Calibration).Sum(p => p.Wall.TotalSeconds));
    }

    [FixtureFact]
    public async Task With_an_importance_matrix_a_kquant_matrix_is_what_the_hessian_with_that_diagonal_gives()
    {
        RwkvModel model = V7();
        ImportanceMatrix importance = ImportanceMatrix.Collect(model, Calibration(), "test");
        var iq4 = new KQuantizer(new KQuantizerOptions(KQuantType.IQ4_XS, useImportance: true));
        HybridQuantizer quantizer = HybridQuantizer.CreateBuilder().UseSelector(FixedSelector.Scalar).UseScalar(iq4).UseVector(Gptvq()).Build();
        HybridQuantizationResult result = await quantizer.QuantizeWithoutCalibrationAsync(model, importance);

        const string name = "blocks.1.att.key.weight";
        float[] s = importance.For(name)!;
        var diagonal = new double[s.Length * s.Length];
        for (int j = 0; j < s.Length; j++)
            diagonal[j * s.Length + j] = 2.0 * s[j];
        var viaHessian = (KQuantTensor)iq4.Quantize(model[name], new Hessian(s.Length, diagonal, 1));
        var stored = (KQuantTensor)result.Model.QuantizedTensors.Single(t => t.Name == name);
        Assert.Equal(viaHessian.Blocks.ToArray(), stored.Blocks.ToArray());
        // The reported error is weighted by the importances.
        float[] w = model[name].ToFloatArray(), d = stored.Dequantize();
        double error = 0, reference = 0;
        for (int k = 0; k < w.Length; k++)
        {
            error += s[k % s.Length] * (double)(w[k] - d[k]) * (w[k] - d[k]);
            reference += s[k % s.Length] * (double)w[k] * w[k];
        }
        Assert.Equal(error / reference, result.Tensors.Single(t => t.Name == name).RelativeError!.Value, 1e-9);
    }

    [FixtureFact]
    public async Task With_calibration_pins_override_the_selector_and_kept_matrices_feed_later_blocks_unquantized()
    {
        RwkvModel model = V7();
        HybridQuantizer quantizer = HybridQuantizer.CreateBuilder().UseSelector(FixedSelector.Vector).UseScalar(new GptqQuantizer()).UseVector(Gptvq())
            .PinScalar("blocks.0.att.key.weight").Keep("blocks.0.ffn.key.weight").Build();
        HybridQuantizationResult result = await quantizer.QuantizeAsync(model, Calibration());
        Assert.Equal(HybridMethod.Scalar, result.Tensors.Single(t => t.Name == "blocks.0.att.key.weight").Method);
        Assert.Equal(HybridMethod.Vector, result.Tensors.Single(t => t.Name == "blocks.0.att.value.weight").Method);
        Assert.Equal(HybridMethod.Kept, result.Tensors.Single(t => t.Name == "blocks.0.ffn.key.weight").Method);
        Assert.Equal(model["blocks.0.ffn.key.weight"].ToFloatArray(),
            result.Model.FullPrecisionTensors.Single(t => t.Name == "blocks.0.ffn.key.weight").ToFloatArray());

        HybridQuantizer unknown = HybridQuantizer.CreateBuilder().UseSelector(FixedSelector.Scalar).UseScalar(new RoundToNearestQuantizer()).UseVector(Gptvq())
            .Keep("blocks.99.att.key.weight").Build();
        ArgumentException e = await Assert.ThrowsAsync<ArgumentException>(() => unknown.QuantizeWithoutCalibrationAsync(model, null));
        Assert.Contains("'blocks.99.att.key.weight' is kept or pinned, but it is no block matrix", e.Message, StringComparison.Ordinal);
    }

    [FixtureFact]
    public async Task The_embedding_and_head_take_their_own_quantizer_or_type()
    {
        RwkvModel model = V7();
        var q8 = new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q8_0));
        HybridQuantizer quantizer = HybridQuantizer.CreateBuilder().UseSelector(FixedSelector.Scalar).UseScalar(new RoundToNearestQuantizer()).UseVector(Gptvq())
            .UseForEmbedding(q8).KeepEmbeddingAndHeadAs(TensorDataType.BF16).Build();
        string path = Path.Combine(_directory, "emb.rwkvq");
        HybridQuantizationResult result = await quantizer.QuantizeWithoutCalibrationToFileAsync(model, null, path);
        QuantizedModel q = QuantizedModelFile.Load(path);
        var embedding = (GgmlBlockTensor)q.QuantizedTensors.Single(t => t.Name == "emb.weight");
        Assert.Equal(((GgmlBlockTensor)q8.Quantize(model["emb.weight"])).Blocks.ToArray(), embedding.Blocks.ToArray());
        Assert.Equal(TensorDataType.BF16, q.FullPrecisionTensors.Single(t => t.Name == "head.weight").Type);
        HybridTensorReport report = result.Tensors.Single(t => t.Name == "emb.weight");
        Assert.Equal((HybridTensorKind.EmbeddingOrHead, HybridMethod.Scalar, "ggml q8_0"), (report.Kind, report.Method, report.Scheme));
        Assert.InRange(report.RelativeError!.Value, 1e-7, 1e-3);
        Assert.Equal(1.0, result.ScalarFractionByCount); // the block matrices only

        Assert.Throws<ArgumentException>(() => HybridQuantizer.CreateBuilder().UseForHead(new GptqQuantizer()));
        Assert.Throws<ArgumentException>(() => HybridQuantizer.CreateBuilder().KeepEmbeddingAndHeadAs(TensorDataType.I8));
        Assert.Throws<InvalidOperationException>(() => HybridQuantizer.CreateBuilder().UseForHead(q8).UseForHead(q8));
    }
}
