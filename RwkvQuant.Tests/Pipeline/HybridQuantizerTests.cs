using RwkvQuant.Calibration;
using RwkvQuant.Codebooks;
using RwkvQuant.Corpora;
using RwkvQuant.Formats;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;
using RwkvQuant.Proxy;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar.Gptq;
using RwkvQuant.Scalar.Rtn;
using RwkvQuant.Tokenizers;
using RwkvQuant.Vector.Gptvq;
using RwkvQuant.Vector.KMeans;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.Pipeline;

public sealed class HybridQuantizerTests : IDisposable
{
    private const string V7 = "tiny-rwkv-7v0-834K-FP32.bin";

    private static readonly Lazy<(RwkvModel Model, HybridQuantizationResult Result)> V7Result = new(() =>
    {
        RwkvModel model = LoadV7();
        return (model, Pipeline(model, 0.5).QuantizeAsync(model, Calibration()).GetAwaiter().GetResult());
    });

    private readonly string _directory = Directory.CreateTempSubdirectory("rwkvquant-hybrid-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static RwkvModel LoadV7() => RwkvModelFile.Load(Fixtures.Path("rwkvcpp", V7));

    private static CalibrationData Calibration() => CalibrationData.FromCorpus(Fixtures.Path("text", "lambada_test.jsonl"),
        DocumentRange.Parse("0..15"), ByteTokenizer.Instance, new CalibrationOptions { SampleCount = 4, TokensPerSample = 64, BatchSize = 4 });

    private static GptvqQuantizer Gptvq() => new(new GptvqOptions { Codebooks = new KMeansOptions { MaxIterations = 20 } });

    /// <summary>GPTQ + GPTVQ + activation-weighted codebooks; thresholds scaled so about <paramref name="fraction"/> of the matrices go to SQ.</summary>
    private static HybridQuantizer Pipeline(RwkvModel model, double fraction)
    {
        var proxy = new CoarseToFineProxy();
        ProxyScore[] scores = [.. LinearWeights.Of(model).Where(w => w.Block >= 0).Select(w => proxy.Score(w.ToMatrix(model[w.Name])))];
        return HybridQuantizer.CreateBuilder()
            .UseProxy(proxy, ProxyThresholds.ScaledForTargetScalarFraction(scores, fraction))
            .UseScalar(new GptqQuantizer())
            .UseVector(Gptvq())
            .UseCodebookOptimizer(new ActivationWeightedCodebookOptimizer())
            .Build();
    }

    [Fact]
    public void Build_needs_a_scalar_and_a_vector_quantizer()
    {
        var missingScalar = Assert.Throws<InvalidOperationException>(() => HybridQuantizer.CreateBuilder().UseVector(Gptvq()).Build());
        Assert.Contains("UseScalar", missingScalar.Message, StringComparison.Ordinal);
        var missingVector = Assert.Throws<InvalidOperationException>(() => HybridQuantizer.CreateBuilder().UseScalar(new GptqQuantizer()).Build());
        Assert.Contains("UseVector", missingVector.Message, StringComparison.Ordinal);

        HybridQuantizer minimal = HybridQuantizer.CreateBuilder().UseScalar(new GptqQuantizer()).UseVector(Gptvq()).Build();
        Assert.Null(minimal.CodebookOptimizer);
        var selector = Assert.IsType<ThresholdSelector>(minimal.Selector);
        Assert.Equal(ProxyThresholds.PublishedRwkv7, selector.Thresholds);
    }

    [Fact]
    public void Each_step_rejects_null_when_added()
    {
        HybridQuantizerBuilder builder = HybridQuantizer.CreateBuilder();
        Assert.Throws<ArgumentNullException>(() => builder.UseSelector(null!));
        Assert.Throws<ArgumentNullException>(() => builder.UseProxy(null!, ProxyThresholds.PublishedRwkv7));
        Assert.Throws<ArgumentNullException>(() => builder.UseProxy(new CoarseToFineProxy(), null!));
        Assert.Throws<ArgumentNullException>(() => builder.UseScalar(null!));
        Assert.Throws<ArgumentNullException>(() => builder.UseVector(null!));
        Assert.Throws<ArgumentNullException>(() => builder.UseCodebookOptimizer(null!));
        // Nothing was set by the failed calls: a complete pipeline still builds.
        Assert.NotNull(builder.UseScalar(new GptqQuantizer()).UseVector(Gptvq()).Build());
    }

    [Fact]
    public void A_part_is_set_once_and_a_builder_builds_once()
    {
        HybridQuantizerBuilder builder = HybridQuantizer.CreateBuilder().UseScalar(new GptqQuantizer()).UseVector(Gptvq());
        Assert.Throws<InvalidOperationException>(() => builder.UseScalar(new GptqQuantizer()));
        builder.UseProxy(new CoarseToFineProxy(), ProxyThresholds.PublishedRwkv7);
        Assert.Throws<InvalidOperationException>(() => builder.UseSelector(new OracleSelector(new GptqQuantizer(), Gptvq())));
        HybridQuantizer built = builder.Build();
        Assert.NotNull(built);
        Assert.Throws<InvalidOperationException>(() => builder.Build());
        Assert.Throws<InvalidOperationException>(() => builder.UseCodebookOptimizer(new UnweightedCodebookOptimizer()));
        Assert.Throws<InvalidOperationException>(() => builder.UseVector(Gptvq()));
    }

    [FixtureFact]
    public void Every_quantizable_tensor_is_quantized_exactly_once()
    {
        (RwkvModel model, HybridQuantizationResult result) = V7Result.Value;
        var matrices = LinearWeights.Of(model).Where(w => w.Block >= 0).Select(w => w.Name).ToHashSet(StringComparer.Ordinal);
        IReadOnlyList<string> vectors = HybridQuantizer.MultiplicationVectors(model);
        Assert.Equal(10 * model.Config.LayerCount, vectors.Count);
        Assert.Contains("blocks.11.att.r_k", vectors);
        Assert.Contains("blocks.0.ffn.x_k", vectors);

        string[] quantizedNames = [.. result.Model.QuantizedTensors.Select(t => t.Name)];
        Assert.Equal(quantizedNames.Length, quantizedNames.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(matrices.Concat(vectors).Order(StringComparer.Ordinal), quantizedNames.Order(StringComparer.Ordinal));
        Assert.All(result.Model.QuantizedTensors.Where(t => vectors.Contains(t.Name)), t => Assert.IsType<MultiplicationVectorTensor>(t));

        // The report lists every tensor of the model exactly once, with the right kind and method.
        Assert.Equal(model.Tensors.Keys.Order(StringComparer.Ordinal), result.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
        foreach (HybridTensorReport report in result.Tensors)
        {
            if (matrices.Contains(report.Name))
            {
                Assert.Equal(HybridTensorKind.Matrix, report.Kind);
                Assert.Contains(report.Method, new[] { HybridMethod.Scalar, HybridMethod.Vector });
                Assert.NotNull(report.CoarseProxy);
                Assert.NotNull(report.FineProxy);
                Assert.InRange(report.RelativeError!.Value, 1e-9, 0.5);
            }
            else if (vectors.Contains(report.Name))
            {
                Assert.Equal((HybridTensorKind.MultiplicationVector, HybridMethod.Codebook), (report.Kind, report.Method));
                Assert.InRange(report.RelativeError!.Value, 0, 0.5);
            }
            else
            {
                Assert.Equal((HybridTensorKind.Kept, HybridMethod.Kept, (double?)null), (report.Kind, report.Method, report.RelativeError));
            }
        }
        Assert.Equal("f16", Assert.Single(result.Tensors, t => t.Name == "emb.weight").Scheme);
        Assert.Equal("f16", Assert.Single(result.Tensors, t => t.Name == "head.weight").Scheme);
        // Thresholds for a 50% SQ share: both branches are used, near half by count.
        Assert.InRange(result.ScalarFractionByCount, 0.45, 0.55);
        Assert.InRange(result.ScalarFractionByParameters, 0.01, 0.99);
    }

    [FixtureFact]
    public void Calibration_is_sequential_block_i_sees_the_quantized_blocks_before_it()
    {
        (RwkvModel source, HybridQuantizationResult result) = V7Result.Value;
        RwkvModel dequantized = result.Model.ToDequantizedModel();
        // Block 0 quantized, the rest as in the source: what block 1 must have been calibrated on.
        var afterBlock0 = new RwkvModel(source.Config,
            source.Tensors.Values.Select(t => t.Name.StartsWith("blocks.0.", StringComparison.Ordinal) ? dequantized[t.Name] : t));
        const string name = "blocks.1.att.key.weight";
        LinearWeight weight = LinearWeights.Of(source).Single(w => w.Name == name);
        float[] w = weight.ToMatrix(source[name]).ToFloatArray();
        float[] q = result.Model.QuantizedTensors.Single(t => t.Name == name).Dequantize();
        double RelativeError(RwkvModel calibrated)
        {
            using RwkvNetwork network = RwkvNetwork.Create(calibrated);
            using HessianCollector collector = HessianCollector.ForBlock(calibrated, 1);
            collector.Collect(network, Calibration());
            Hessian h = collector.Build(name);
            return h.WeightedError(w, q) / h.WeightedError(w, new float[w.Length]);
        }
        double reported = Assert.Single(result.Tensors, t => t.Name == name).RelativeError!.Value;
        Assert.Equal(RelativeError(afterBlock0), reported, 1e-6 * reported); // the report's terms are float32 products (Hessian.RelativeErrorTerms)
        double unquantizedInputs = RelativeError(source);
        Assert.True(Math.Abs(unquantizedInputs - reported) > 1e-6 * reported, $"{unquantizedInputs} vs {reported}");
    }

    [FixtureFact]
    public async Task The_oracle_selector_reports_no_proxy_values()
    {
        RwkvModel model = LoadV7();
        var scalar = new GptqQuantizer();
        GptvqQuantizer vector = Gptvq();
        HybridQuantizationResult result = await HybridQuantizer.CreateBuilder()
            .UseSelector(new OracleSelector(scalar, vector)).UseScalar(scalar).UseVector(vector).Build()
            .QuantizeAsync(model, Calibration());
        var matrices = result.Tensors.Where(t => t.Kind == HybridTensorKind.Matrix).ToList();
        Assert.All(matrices, t => Assert.Null(t.CoarseProxy));
        Assert.All(matrices, t => Assert.InRange(t.RelativeError!.Value, 1e-9, 0.5));
        // Without a codebook optimizer the multiplication vectors are kept in FP32.
        Assert.All(result.Tensors.Where(t => t.Kind == HybridTensorKind.MultiplicationVector),
            t => Assert.Equal((HybridMethod.Kept, "f32"), (t.Method, t.Scheme)));
        Assert.DoesNotContain(result.Model.QuantizedTensors, t => t is MultiplicationVectorTensor);
        Assert.Contains("oracle", result.Selector, StringComparison.Ordinal);
    }

    /// <summary>A selector of the user's own, as the pipeline sees it: its scores reach the report, and a tensor it
    /// quantized with the pipeline's own quantizer is kept rather than quantized again (no type switch in the pipeline).</summary>
    [FixtureFact]
    public async Task A_users_own_selector_reports_its_scores_and_its_quantized_tensors_are_kept()
    {
        RwkvModel model = LoadV7();
        var scalar = new RoundToNearestQuantizer();
        var vector = Gptvq();
        var selector = new EveryOtherSelector(scalar);
        HybridQuantizationResult result = await HybridQuantizer.CreateBuilder()
            .UseSelector(selector).UseScalar(scalar).UseVector(vector).Build()
            .QuantizeAsync(model, Calibration());
        var matrices = result.Tensors.Where(t => t.Kind == HybridTensorKind.Matrix).ToList();
        Assert.All(matrices, t => Assert.Equal(t.Name.Length, t.CoarseProxy));
        Assert.Contains(matrices, t => t.Method == HybridMethod.Scalar);
        Assert.Contains(matrices, t => t.Method == HybridMethod.Vector);
        foreach (QuantizedTensor tensor in result.Model.QuantizedTensors.Where(t => selector.Made.ContainsKey(t.Name)))
            Assert.Same(selector.Made[tensor.Name], tensor);
        Assert.NotEmpty(selector.Made);
    }

    /// <summary>Scalar for names of even length (quantizing those itself), vector for the rest; the score is the name's length.</summary>
    private sealed class EveryOtherSelector(IScalarQuantizer scalar) : IQuantizationSelector
    {
        public System.Collections.Concurrent.ConcurrentDictionary<string, QuantizedTensor> Made { get; } = new();

        public string Name => "every other";

        public QuantizationSelection Choose(TensorData weight, Hessian? hessian = null, CancellationToken cancellationToken = default)
        {
            var score = new ProxyScore(weight.Name, weight.ElementCount, weight.Name.Length, 0);
            if (weight.Name.Length % 2 != 0)
                return new QuantizationSelection(QuantizationChoice.Vector) { Score = score };
            QuantizedTensor tensor = Made[weight.Name] = scalar.Quantize(weight, hessian, cancellationToken);
            return new QuantizationSelection(QuantizationChoice.Scalar) { Score = score, Tensor = tensor, QuantizedWith = scalar };
        }
    }

    [FixtureFact]
    public void Reported_bits_per_weight_are_the_stored_bits()
    {
        HybridQuantizationResult result = V7Result.Value.Result;
        QuantizedModel model = result.Model;
        var byName = model.QuantizedTensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        foreach (HybridTensorReport report in result.Tensors.Where(t => t.Method != HybridMethod.Kept))
        {
            QuantizedTensor tensor = byName[report.Name];
            Assert.Equal((tensor.StoredBits, tensor.ElementCount, tensor.Scheme), (report.StoredBits, report.Parameters, report.Scheme));
            Assert.Equal((double)tensor.StoredBits / tensor.ElementCount, report.BitsPerWeight);
        }
        long storedBits = result.Tensors.Where(t => t.Method != HybridMethod.Kept).Sum(t => t.StoredBits);
        long parameters = result.Tensors.Where(t => t.Method != HybridMethod.Kept).Sum(t => t.Parameters);
        Assert.Equal((double)storedBits / parameters, result.QuantizedBitsPerWeight);
        Assert.Equal((double)result.Tensors.Sum(t => t.StoredBits) / result.Tensors.Sum(t => t.Parameters), result.BitsPerWeight);
        Assert.Equal(model.ParameterCount, V7Result.Value.Model.ParameterCount);
        // GPTQ a3 g64 with FP16 scale and zero is 3.5 bpw; 3-bit codebooks of 8 int8 entries + FP16 scale per 64 are 4.25.
        Assert.All(result.Tensors.Where(t => t.Method == HybridMethod.Codebook), t => Assert.Equal(4.25, t.BitsPerWeight));
    }

    [FixtureFact]
    public void Saved_and_loaded_model_gives_bit_identical_logits()
    {
        (RwkvModel source, HybridQuantizationResult result) = V7Result.Value;
        string path = Path.Combine(_directory, "hybrid.rwkvq");
        QuantizedModelFile.Save(result.Model, path);
        QuantizedModel loaded = QuantizedModelFile.Load(path);
        float[] before = Logits(result.Model.ToDequantizedModel()), after = Logits(loaded.ToDequantizedModel());
        Assert.Equal(before, after);
        Assert.Equal(result.Model.StoredBits, loaded.StoredBits);
        // And the quantized model is not the FP32 model.
        Assert.NotEqual(Logits(source), before);
    }

    [FixtureFact]
    public async Task Cancelling_from_a_progress_callback_throws_and_leaves_no_file()
    {
        RwkvModel model = LoadV7();
        using var cancellation = new CancellationTokenSource();
        var seen = new List<HybridProgress>();
        var progress = new Reporter(p =>
        {
            seen.Add(p);
            if (p.TensorsDone == 3)
                cancellation.Cancel();
        });
        string path = Path.Combine(_directory, "cancelled.rwkvq");
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            HybridQuantizationResult result = await Pipeline(model, 0.9).QuantizeAsync(model, Calibration(), progress, cancellation.Token);
            QuantizedModelFile.Save(result.Model, path, cancellation.Token);
        });
        Assert.Equal(3, seen.Max(p => p.TensorsDone));
        Assert.Null(seen[0].TensorName);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_directory));
    }

    [FixtureFact]
    public async Task Quantizing_to_a_file_writes_the_model_the_in_memory_run_makes()
    {
        (RwkvModel model, HybridQuantizationResult held) = V7Result.Value;
        string path = Path.Combine(_directory, "streamed.rwkvq");
        HybridQuantizationResult streamed = await Pipeline(model, 0.5).QuantizeToFileAsync(model, Calibration(), path);

        Assert.Equal(["streamed.rwkvq"], Directory.EnumerateFileSystemEntries(_directory).Select(Path.GetFileName)); // the spill file is gone
        Assert.Equal(path, streamed.Model.SourcePath);
        Assert.Equal(held.Model.Tensors, streamed.Model.Tensors); // names, schemes, parameters and stored bits
        Assert.Equal(held.Tensors.Select(t => (t.Name, t.Method, t.Scheme, t.StoredBits)), streamed.Tensors.Select(t => (t.Name, t.Method, t.Scheme, t.StoredBits)));
        Assert.Equal(Logits(held.Model.ToDequantizedModel()), Logits(streamed.Model.ToDequantizedModel()));
    }

    [FixtureFact]
    public async Task Quantizing_into_a_missing_folder_fails_before_any_work()
    {
        RwkvModel model = LoadV7();
        string path = Path.Combine(_directory, "missing", "out.rwkvq");
        var seen = new List<HybridProgress>();
        var error = await Assert.ThrowsAsync<DirectoryNotFoundException>(() =>
            Pipeline(model, 0.5).QuantizeToFileAsync(model, Calibration(), path, new Reporter(seen.Add)));
        Assert.Contains(path, error.Message, StringComparison.Ordinal); // the path the user gave, not a temporary file
        Assert.Empty(seen);
    }

    [FixtureFact]
    public async Task Cancelling_a_run_to_a_file_mid_block_leaves_no_file_and_keeps_an_existing_one()
    {
        RwkvModel model = LoadV7();
        string path = Path.Combine(_directory, "cancelled.rwkvq");
        File.WriteAllText(path, "previous");
        using var cancellation = new CancellationTokenSource();
        var progress = new Reporter(p =>
        {
            if (p.TensorsDone == 30) // in the second block, with the first block's tensors spilled
                cancellation.Cancel();
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            Pipeline(model, 0.9).QuantizeToFileAsync(model, Calibration(), path, progress, cancellation.Token));
        Assert.Equal("previous", File.ReadAllText(path));
        Assert.Equal(["cancelled.rwkvq"], Directory.EnumerateFileSystemEntries(_directory).Select(Path.GetFileName));
    }

    private static float[] Logits(RwkvModel model)
    {
        using RwkvNetwork network = RwkvNetwork.Create(model);
        using var scope = NewDisposeScope();
        return network.Forward(tensor(new long[] { 34, 105, 110, 32, 116 }, [1, 5])).data<float>().ToArray();
    }

    private sealed class Reporter(Action<HybridProgress> report) : IProgress<HybridProgress>
    {
        public void Report(HybridProgress value) => report(value);
    }
}
