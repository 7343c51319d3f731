using RwkvQuant.Proxy;
using RwkvQuant.Calibration;
using RwkvQuant.Codebooks;
using RwkvQuant.Corpora;
using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Inference;
using RwkvQuant.Kernels.Packed;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar.Ggml;
using RwkvQuant.Scalar.Gptq;
using RwkvQuant.Scalar.KQuants;
using RwkvQuant.Scalar.Rtn;
using RwkvQuant.Tests.Scalar;
using RwkvQuant.Tokenizers;
using RwkvQuant.Vector;
using RwkvQuant.Vector.Gptvq;
using RwkvQuant.Vector.KMeans;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.Inference;

/// <summary>The engine against the TorchSharp networks on the real v6 and v7 fixtures, FP32 and quantized.</summary>
public sealed class RwkvEngineTests(ITestOutputHelper output) : IDisposable
{
    private const string V6 = "tiny-rwkv-6v0-1m-FP32.bin";
    private const string V7 = "tiny-rwkv-7v0-834K-FP32.bin";
    private const int Steps = 20;

    private readonly string _directory = Directory.CreateTempSubdirectory("rwkvquant-engine-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static RwkvModel Load(string file) => RwkvModelFile.Load(Fixtures.Path("rwkvcpp", file));

    private static int[] Tokens(int vocabulary) =>
        [.. "The old man said: \"quantized weights\"".Select(c => c % vocabulary).Take(Steps)];

    [FixtureTheory]
    [InlineData(V6)]
    [InlineData(V7)]
    public void The_float32_engine_gives_the_networks_logits_token_by_token(string file)
    {
        RwkvModel model = Load(file);
        RwkvEngine engine = RwkvEngine.Create(model);
        double difference = MaxDifference(engine, model);
        output.WriteLine($"{file}: max |engine − network| over {Steps} steps = {difference:E2}");
        Assert.True(difference < 1e-4, $"{difference}");

        // Every tensor is read as float32 once per token, except the embedding: one row.
        long expected = 4 * (model.ParameterCount - model["emb.weight"].ElementCount + model.Config.EmbeddingSize);
        Assert.Equal(expected, engine.WeightBytesPerToken);
        Assert.Equal(0, engine.QuantizedWeightBytesPerToken);
    }

    [FixtureFact]
    public void A_hybrid_quantized_v7_model_runs_from_its_rwkvq_file_like_its_dequantization()
    {
        RwkvModel model = Load(V7);
        CalibrationData data = CalibrationData.FromCorpus(Fixtures.Path("text", "lambada_test.jsonl"), DocumentRange.Parse("0..7"),
            ByteTokenizer.Instance, new CalibrationOptions { SampleCount = 2, TokensPerSample = 32 });
        QuantizedModel quantized = HybridPlan.ForScalarFraction(model, 0.5).Build().QuantizeAsync(model, data).GetAwaiter().GetResult().Model;
        Assert.Contains(quantized.QuantizedTensors, t => t is MultiplicationVectorTensor);
        Assert.Contains(quantized.QuantizedTensors, t => t is VectorQuantizedTensor);
        AssertRunsLikeDequantized(model, quantized, "hybrid-v7");
    }

    [FixtureFact]
    public void A_v6_model_quantized_by_every_scheme_runs_from_its_rwkvq_file_like_its_dequantization()
    {
        RwkvModel model = Load(V6);
        var rtn = new RoundToNearestQuantizer(new RoundToNearestOptions { Bits = 3, GroupSize = 64 });
        var gptq = new GptqQuantizer(new GptqOptions { Bits = 4, GroupSize = 32, ActOrder = true });
        var kmeans = new KMeansVectorQuantizer(new KMeansOptions { Dimension = 2, Bits = 5, MaxIterations = 5 });
        var gptvq = new GptvqQuantizer(new GptvqOptions { Codebooks = new KMeansOptions { MaxIterations = 5 }, SvdRank = 2 });
        var q51 = new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q5_1));
        var tensors = new List<QuantizedTensor>();
        int i = 0;
        foreach (LinearWeight weight in LinearWeights.Of(model).Where(w => w.Block >= 0))
        {
            TensorData matrix = weight.ToMatrix(model[weight.Name]);
            tensors.Add((i++ % 5) switch
            {
                0 => rtn.Quantize(matrix),
                1 => gptq.Quantize(matrix, ScalarTestData.CorrelatedHessian(i, weight.Columns, samples: 64)),
                2 => kmeans.Quantize(matrix),
                3 => gptvq.Quantize(matrix, ScalarTestData.CorrelatedHessian(i, weight.Columns, samples: 64)),
                _ when weight.Columns % 32 == 0 => q51.Quantize(matrix),
                _ => rtn.Quantize(matrix),
            });
        }
        Assert.Contains(tensors, t => t.Name.EndsWith("att.time_maa_w2", StringComparison.Ordinal)); // the stacked LoRA, quantized
        var codebooks = new UnweightedCodebookOptimizer();
        foreach (string name in HybridQuantizer.MultiplicationVectors(model))
        {
            TensorData vector = model[name];
            tensors.Add(new MultiplicationVectorTensor(codebooks.Quantize(vector, Enumerable.Repeat(1f, (int)vector.ElementCount).ToArray())));
        }
        AssertRunsLikeDequantized(model, QuantizedModel.Create(model, tensors), "mixed-v6");
    }

    [FixtureFact]
    public async Task A_model_with_a_quantized_embedding_and_head_runs_from_its_rwkvq_file_like_its_dequantization()
    {
        RwkvModel model = Load(V7);
        HybridQuantizer quantizer = HybridQuantizer.CreateBuilder().UseSelector(FixedSelector.Scalar)
            .UseScalar(new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q8_0))).UseVector(new GptvqQuantizer())
            .UseForEmbedding(new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q4_0)))
            .UseForHead(new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q5_1))).Build();
        QuantizedModel quantized = (await quantizer.QuantizeWithoutCalibrationAsync(model, null)).Model;
        Assert.Equal(GgmlType.Q4_0, ((GgmlBlockTensor)quantized.QuantizedTensors.Single(t => t.Name == "emb.weight")).Type);
        Assert.Equal(GgmlType.Q5_1, ((GgmlBlockTensor)quantized.QuantizedTensors.Single(t => t.Name == "head.weight")).Type);
        AssertRunsLikeDequantized(model, quantized, "emb-head-v7");
    }

    [FixtureTheory]
    [InlineData(V6, GgmlType.Q4_0)]
    [InlineData(V7, GgmlType.Q4_1)]
    [InlineData(V7, GgmlType.Q8_0)]
    public void A_ggml_quantized_model_runs_from_its_rwkvq_file_like_its_dequantization(string file, GgmlType type)
    {
        RwkvModel model = Load(file);
        var quantizer = new GgmlQuantizer(new GgmlQuantizerOptions(type));
        var tensors = LinearWeights.Of(model)
            .Where(w => w.Block >= 0 && w.Columns % 32 == 0 && w.Layout == LinearLayout.OutIn)
            .Select(w => quantizer.Quantize(w.ToMatrix(model[w.Name])))
            .ToList();
        Assert.NotEmpty(tensors);
        AssertRunsLikeDequantized(model, QuantizedModel.Create(model, tensors), $"{type}-{file}");
    }

    [FixtureTheory]
    [InlineData(V6, KQuantType.Q3_K)]
    [InlineData(V7, KQuantType.Q2_K)]
    [InlineData(V7, KQuantType.Q4_K)]
    [InlineData(V7, KQuantType.IQ4_XS)]
    [InlineData(V7, KQuantType.IQ3_S)]
    public void A_k_quantized_model_runs_from_its_rwkvq_file_like_its_dequantization(string file, KQuantType type)
    {
        RwkvModel model = Load(file);
        var quantizer = new KQuantizer(new KQuantizerOptions(type));
        var tensors = LinearWeights.Of(model)
            .Where(w => w.Block >= 0 && w.Columns % 32 == 0 && w.Layout == LinearLayout.OutIn)
            .Select(w => quantizer.Quantize(w.ToMatrix(model[w.Name])))
            .ToList();
        KQuantType expected = file == V6 ? KQuantType.IQ4_NL : type; // the v6 fixture's rows (64 and 224 columns) all take the fallback
        Assert.Contains(tensors, t => t is KQuantTensor k && k.Type == expected);
        AssertRunsLikeDequantized(model, QuantizedModel.Create(model, tensors), $"{type}-{file}");
    }

    [FixtureTheory]
    [InlineData(V6)]
    [InlineData(V7)]
    public void Prefill_runs_a_prompt_like_the_network_and_like_stepping_and_reset_starts_over(string file)
    {
        RwkvModel model = Load(file);
        RwkvEngine engine = RwkvEngine.Create(model);
        // Two whole runs and a part run, so the runs hand the state on to each other.
        int length = 2 * RwkvEngine.PrefillRunLength + 11, vocabulary = model.Config.VocabularySize;
        int[] tokens = [.. Enumerable.Range(0, length).Select(i => (i * 37 + 5) % vocabulary)];
        RwkvEngineState stepped = engine.CreateState(), prefilled = engine.CreateState();
        float[] last = [];
        foreach (int token in tokens)
            last = engine.Step(token, stepped);
        float[] prompt = engine.Prefill(tokens, prefilled);
        Assert.Equal(length, prefilled.Position);
        double stepping = MaxAbs(last, prompt);

        // The TorchSharp network in sequence mode over the same prompt: an independent computation of the same logits.
        using RwkvNetwork network = RwkvNetwork.Create(model);
        float[] expected;
        using (var scope = NewDisposeScope())
            expected = network.Forward(tensor(tokens.Select(t => (long)t).ToArray(), [1, length]))[0, length - 1].data<float>().ToArray();
        double sequence = MaxAbs(expected, prompt);

        // The prefilled state carries on like the stepped one.
        float[] nextStepped = engine.Step(tokens[3], stepped), nextPrefilled = engine.Step(tokens[3], prefilled);
        double carried = MaxAbs(nextStepped, nextPrefilled);
        output.WriteLine($"{file}, {length} tokens: max |prefill − stepping| = {stepping:E2}, |prefill − network sequence| = {sequence:E2}, next step {carried:E2}");
        Assert.True(stepping < 1e-4, $"{stepping}");
        Assert.True(sequence < 1e-4, $"{sequence}");
        Assert.True(carried < 1e-4, $"{carried}");
        Assert.Equal(engine.Step(tokens[0], engine.CreateState()), engine.Prefill([tokens[0]], engine.CreateState())); // a run of one is a step

        prefilled.Reset();
        Assert.Equal(0, prefilled.Position);
        Assert.Equal(engine.Step(tokens[0], engine.CreateState()), engine.Step(tokens[0], prefilled));

        Assert.Throws<ArgumentException>(() => engine.Step(vocabulary, stepped));
        Assert.Throws<ArgumentException>(() => engine.Step(0, RwkvEngine.Create(model).CreateState()));
        Assert.Throws<ArgumentException>(() => engine.Prefill([], stepped));
        long position = stepped.Position;
        var error = Assert.Throws<ArgumentException>(() => engine.Prefill([1, 2, vocabulary], stepped));
        Assert.Contains("position 2", error.Message, StringComparison.Ordinal);
        Assert.Equal(position, stepped.Position); // a bad prompt is refused before any token runs
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Throws<OperationCanceledException>(() => engine.Prefill(tokens, stepped, cancelled.Token));
        Assert.Equal(position, stepped.Position);
    }

    private static double MaxAbs(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = 0;
        for (int i = 0; i < expected.Length; i++)
            worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
        return worst;
    }

    [FixtureFact]
    public void Other_versions_are_refused_by_name()
    {
        RwkvModel model = RwkvModelFile.Load(Fixtures.Path("rwkvcpp", "tiny-rwkv-5v2-730K-FP32.bin"));
        var error = Assert.Throws<NotSupportedException>(() => RwkvEngine.Create(model));
        Assert.Contains("V5_2", error.Message, StringComparison.Ordinal);
        error = Assert.Throws<NotSupportedException>(() => RwkvEngine.Load(Fixtures.Path("rwkvcpp", "tiny-rwkv-5v2-730K-FP32.bin")));
        Assert.Contains("V5_2", error.Message, StringComparison.Ordinal);
        string missing = Path.Combine(_directory, "missing.rwkvq");
        Assert.Contains(missing, Assert.Throws<FileNotFoundException>(() => RwkvEngine.Load(missing)).Message, StringComparison.Ordinal);
    }

    /// <summary>Saves and reloads the .rwkvq, then holds the engine on it to the network on its dequantized model.</summary>
    private void AssertRunsLikeDequantized(RwkvModel source, QuantizedModel quantized, string label)
    {
        string path = Path.Combine(_directory, label + ".rwkvq");
        QuantizedModelFile.Save(quantized, path);
        QuantizedModel loaded = QuantizedModelFile.Load(path);
        RwkvEngine engine = RwkvEngine.Create(loaded, FusedMatrixVectorProducts.FloatLookup);
        double difference = MaxDifference(engine, loaded.ToDequantizedModel());
        RwkvEngine full = RwkvEngine.Create(source);
        output.WriteLine($"{label}: max |engine − dequantized network| = {difference:E2}; weight bytes per token {engine.WeightBytesPerToken} " +
                         $"(quantized matrices {engine.QuantizedWeightBytesPerToken}) vs FP32 {full.WeightBytesPerToken}");
        Assert.True(difference < 1e-4, $"{difference}");
        if (FusedMatrixVectorProducts.Default.Lookup == GroupScalarLookup.Int8Tables)
        {
            // This machine's default products look x up in 8-bit tables: close, not equal, to the exact products.
            double rounded = MaxDifference(RwkvEngine.Create(loaded), loaded.ToDequantizedModel(), out double kl);
            output.WriteLine($"{label}: with 8-bit tables max |engine − dequantized network| = {rounded:E2}, mean KL(network ‖ engine) = {kl:E2} nats per token");
            Assert.True(kl < 1e-4, $"KL {kl}");
        }
        Assert.True(engine.QuantizedWeightBytesPerToken > 0);
        Assert.True(engine.WeightBytesPerToken < full.WeightBytesPerToken);

        // A prompt prefilled in runs (every product multiplying many tokens at once) is the prompt stepped token by token.
        int[] prompt = [.. Enumerable.Range(0, RwkvEngine.PrefillRunLength + 9).Select(i => (i * 31 + 7) % source.Config.VocabularySize)];
        foreach (RwkvEngine run in new[] { engine, RwkvEngine.Create(loaded) })
        {
            RwkvEngineState stepped = run.CreateState();
            float[] last = [];
            foreach (int token in prompt)
                last = run.Step(token, stepped);
            double prefill = MaxAbs(last, run.Prefill(prompt, run.CreateState()));
            output.WriteLine($"{label}: max |prefill − stepping| over {prompt.Length} tokens = {prefill:E2}");
            Assert.True(prefill < 1e-4, $"{prefill}");
        }

        // Built from the file tensor by tensor, the engine is the same engine: the same logits bit for bit.
        RwkvEngine fromFile = RwkvEngine.Load(path, FusedMatrixVectorProducts.FloatLookup);
        Assert.Equal(engine.WeightBytesPerToken, fromFile.WeightBytesPerToken);
        Assert.Equal(engine.QuantizedWeightBytesPerToken, fromFile.QuantizedWeightBytesPerToken);
        RwkvEngineState expectedState = engine.CreateState(), actualState = fromFile.CreateState();
        foreach (int token in Tokens(source.Config.VocabularySize))
            Assert.Equal(engine.Step(token, expectedState), fromFile.Step(token, actualState));

        // Dequantized tensor by tensor, the float32 engine is the one of the dequantized model.
        RwkvEngine dequantized = RwkvEngine.Create(loaded.ToDequantizedModel()), dequantizedFromFile = RwkvEngine.LoadDequantized(path);
        Assert.Equal(dequantized.WeightBytesPerToken, dequantizedFromFile.WeightBytesPerToken);
        Assert.Equal(0, dequantizedFromFile.QuantizedWeightBytesPerToken);
        (expectedState, actualState) = (dequantized.CreateState(), dequantizedFromFile.CreateState());
        foreach (int token in Tokens(source.Config.VocabularySize))
            Assert.Equal(dequantized.Step(token, expectedState), dequantizedFromFile.Step(token, actualState));
        File.Delete(path); // closed once loaded
        // A token reads every quantized matrix whole, and one row of a quantized embedding (its share of the bytes).
        long quantizedStored = loaded.QuantizedTensors.Where(t => t is not MultiplicationVectorTensor)
            .Sum(t => t.Name == "emb.weight" ? ((t.StoredBits + 7) / 8 + t.Rows - 1) / t.Rows : (t.StoredBits + 7) / 8);
        Assert.Equal(quantizedStored, engine.QuantizedWeightBytesPerToken);
    }

    /// <summary>The largest logit difference between the engine and the TorchSharp network over the same tokens.</summary>
    private static double MaxDifference(RwkvEngine engine, RwkvModel model) => MaxDifference(engine, model, out _);

    /// <summary>As above, with the mean KL divergence of the engine's next-token distribution from the network's.</summary>
    private static double MaxDifference(RwkvEngine engine, RwkvModel model, out double meanKl)
    {
        using RwkvNetwork network = RwkvNetwork.Create(model);
        using RwkvState networkState = network.CreateState(1);
        RwkvEngineState state = engine.CreateState();
        double worst = 0, klSum = 0;
        int steps = 0;
        foreach (int token in Tokens(model.Config.VocabularySize))
        {
            float[] expected;
            using (var scope = NewDisposeScope())
                expected = network.ForwardStep(tensor(new long[] { token }), networkState)[0].data<float>().ToArray();
            float[] actual = engine.Step(token, state);
            for (int v = 0; v < expected.Length; v++)
                worst = Math.Max(worst, Math.Abs(expected[v] - actual[v]));
            klSum += KlDivergence(expected, actual);
            steps++;
        }
        meanKl = klSum / steps;
        return worst;
    }

    /// <summary>KL(softmax(p) ‖ softmax(q)) in nats, in double.</summary>
    private static double KlDivergence(float[] p, float[] q)
    {
        double maxP = p.Max(), maxQ = q.Max(), sumP = 0, sumQ = 0;
        for (int i = 0; i < p.Length; i++)
        {
            sumP += Math.Exp(p[i] - maxP);
            sumQ += Math.Exp(q[i] - maxQ);
        }
        double logZp = maxP + Math.Log(sumP), logZq = maxQ + Math.Log(sumQ), kl = 0;
        for (int i = 0; i < p.Length; i++)
        {
            double logP = p[i] - logZp;
            kl += Math.Exp(logP) * (logP - (q[i] - logZq));
        }
        return Math.Max(0, kl);
    }

    /// <summary>
    /// A LoRA matrix stored with an extra unit dimension ([C, D, 1]: allowed by the model's schema) runs on the engine
    /// like the original (rwkvquant-fuzz found the engine refusing it without naming the file); a shape the engine
    /// cannot use names the file and the tensor.
    /// </summary>
    [FixtureTheory]
    [InlineData(V6, "blocks.1.att.time_decay_w1")]
    [InlineData(V7, "blocks.1.att.w1")]
    public void A_matrix_stored_with_an_extra_unit_dimension_runs_and_a_wrong_one_names_the_file(string file, string name)
    {
        RwkvModel model = Load(file);
        TensorData matrix = model[name];
        RwkvModel Replaced(IReadOnlyList<long> shape) => new(model.Config,
            [.. model.Tensors.Values.Select(t => t.Name == name ? TensorData.FromFloats(name, shape, matrix.ToFloatArray()) : t)], "changed.safetensors");

        RwkvEngine original = RwkvEngine.Create(model), reshaped = RwkvEngine.Create(Replaced([.. matrix.Shape, 1]));
        RwkvEngineState a = original.CreateState(), b = reshaped.CreateState();
        foreach (int token in new[] { 3, 1, 4, 1, 5 })
            Assert.Equal(original.Step(token, a), reshaped.Step(token, b));

        var error = Assert.Throws<InvalidDataException>(() => RwkvEngine.Create(Replaced([matrix.ElementCount])));
        Assert.Contains("changed.safetensors", error.Message, StringComparison.Ordinal);
        Assert.Contains(name, error.Message, StringComparison.Ordinal);
    }
}
