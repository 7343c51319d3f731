using RwkvQuant.Calibration;
using RwkvQuant.Comparison;
using RwkvQuant.Corpora;
using RwkvQuant.Evaluation;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar.Ggml;
using RwkvQuant.Scalar.Gptq;
using RwkvQuant.Scalar.Rtn;
using RwkvQuant.Tokenizers;
using RwkvQuant.Vector.Gptvq;
using RwkvQuant.Vector.KMeans;
using Xunit.Abstractions;

namespace RwkvQuant.Tests.Comparison;

/// <summary>
/// The issue-3 comparison on the real v6 1M model with Hessians from LAMBADA calibration documents. The reduced run is
/// part of the suite; the full table is the CLI's <c>rwkvquant compare</c>.
/// </summary>
public class QuantizerComparisonTests(ITestOutputHelper output)
{
    private const string Model = "tiny-rwkv-6v0-1m-FP32.bin";
    private static readonly DocumentRange Evaluation = new(5000, 5152);

    private static IReadOnlyDictionary<string, Hessian> Calibrate(RwkvModel model, DocumentRange documents, CalibrationOptions options) =>
        HessianCollector.Collect(model, CalibrationData.FromCorpus(Fixtures.Path("text", "lambada_test.jsonl"), documents,
            Utf16LeByteTokenizer.Instance, options, evaluation: Evaluation));

    [FixtureFact]
    public void Reduced_comparison_gptq_beats_rtn_at_three_bits_on_the_real_model()
    {
        RwkvModel model = GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", Model));
        IReadOnlyDictionary<string, Hessian> hessians = Calibrate(model, new DocumentRange(0, 7),
            new CalibrationOptions { SampleCount = 16, TokensPerSample = 128 });
        int[][] evaluation = TextCorpus.Load(Fixtures.Path("text", "lambada_test.jsonl"), new DocumentRange(5000, 5001))
            .Select(Utf16LeByteTokenizer.Instance.Encode).ToArray();
        ComparisonMethod[] methods =
        [
            ComparisonMethod.Of(new RoundToNearestQuantizer(new RoundToNearestOptions { Bits = 3, GroupSize = 64 })),
            ComparisonMethod.Of(new GptqQuantizer(new GptqOptions { Bits = 3, GroupSize = 64 })),
        ];

        IReadOnlyList<ComparisonRow> rows = QuantizerComparison.Run(model, hessians, methods, evaluation, Utf16LeByteTokenizer.Instance);
        output.WriteLine(QuantizerComparison.Format(rows));

        Assert.Equal(["float32", methods[0].Name, methods[1].Name], rows.Select(r => r.Method));
        int tensors = LinearWeights.Of(model).Count(w => w.Block >= 0);
        Assert.Equal(12 * model.Config.LayerCount, tensors);
        Assert.All(rows, r => Assert.Equal(tensors, r.TensorCount));
        Assert.All(rows, r => Assert.Empty(r.Skipped));
        Assert.Equal(32.0, rows[0].BitsPerWeight);
        Assert.Equal(32.0, rows[0].TotalBitsPerWeight);
        // The multiplication vectors stay float32 in these rows, and are counted so in the total.
        Assert.All(rows, r => Assert.Equal((HybridQuantizer.MultiplicationVectors(model).Sum(n => model[n].ElementCount), 32 * r.VectorParameters),
            (r.VectorParameters, r.VectorStoredBits)));
        Assert.True(rows[1].TotalBitsPerWeight > rows[1].BitsPerWeight);
        // 3-bit codes + FP16 scale and zero per group of up to 64 columns: 3.5 bpw, a little more for short last groups.
        Assert.InRange(rows[1].BitsPerWeight, 3.5, 3.6);
        Assert.Equal(rows[1].StoredBits, rows[2].StoredBits);
        Assert.True(rows[2].MeanRelativeError < rows[1].MeanRelativeError,
            $"GPTQ {rows[2].MeanRelativeError:E3} is not below RTN {rows[1].MeanRelativeError:E3}");
        Assert.InRange(rows[1].MeanRelativeError, 1e-4, 0.5);
        Assert.All(rows, r => Assert.InRange(r.BitsPerByte!.Value, 0.5, 8.0));
        Assert.True(rows[1].BitsPerByte > rows[0].BitsPerByte);
        Assert.Equal(0, rows[0].KlDivergence);
        Assert.All(rows.Skip(1), r => Assert.InRange(r.KlDivergence!.Value, 1e-9, 1.0));
    }

    [FixtureFact]
    public void Pipeline_rows_run_the_hybrid_quantizer_with_its_own_calibration()
    {
        RwkvModel model = GgmlModelLoader.Load(Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin"));
        var options = new CalibrationOptions { SampleCount = 4, TokensPerSample = 64 };
        CalibrationData data = CalibrationData.FromCorpus(Fixtures.Path("text", "lambada_test.jsonl"), new DocumentRange(0, 7),
            ByteTokenizer.Instance, options, evaluation: Evaluation);
        IReadOnlyDictionary<string, Hessian> hessians = HessianCollector.Collect(model, data);
        int[][] evaluation = TextCorpus.Load(Fixtures.Path("text", "lambada_test.jsonl"), new DocumentRange(5000, 5000))
            .Select(ByteTokenizer.Instance.Encode).ToArray();
        ComparisonMethod[] methods =
            [ComparisonMethod.Parse("gptq3"), ComparisonMethod.Parse("seq-gptq3"), ComparisonMethod.Parse("hybrid-nocb@3.4"), ComparisonMethod.Parse("hybrid")];

        Assert.Throws<ArgumentException>(() => QuantizerComparison.Run(model, hessians, methods)); // pipelines need calibration data
        IReadOnlyList<ComparisonRow> rows = QuantizerComparison.Run(model, hessians, methods, evaluation, ByteTokenizer.Instance, calibration: data);
        output.WriteLine(QuantizerComparison.Format(rows));

        // GPTQ on every block matrix, with the float32 model's Hessians or sequentially: the same tensors and bits.
        Assert.Equal((rows[1].TensorCount, rows[1].Parameters, rows[1].StoredBits), (rows[2].TensorCount, rows[2].Parameters, rows[2].StoredBits));
        Assert.NotEqual(rows[1].MeanRelativeError, rows[2].MeanRelativeError); // block 0 alike, later blocks see quantized inputs
        HybridPlanBits(model, rows[3]);
        Assert.All(rows.Skip(1), r => Assert.InRange(r.KlDivergence!.Value, 1e-9, 1.0));
        Assert.Contains(rows[3].Notes, n => n.StartsWith("plan: ", StringComparison.Ordinal));
        // With codebooks the multiplication vectors are stored as codes and codebooks: counted in the total, not in the matrices.
        Assert.Equal(rows[1].TensorCount, rows[4].TensorCount);
        Assert.True(rows[4].VectorParameters > 0 && rows[4].VectorStoredBits < 8 * rows[4].VectorParameters,
            $"{rows[4].VectorStoredBits} bits for {rows[4].VectorParameters} vector parameters");
        Assert.Equal(32 * rows[3].VectorParameters, rows[3].VectorStoredBits);
    }

    private static void HybridPlanBits(RwkvModel model, ComparisonRow row)
    {
        HybridPlan plan = HybridPlan.ForBitsPerWeight(model, 3.4, codebooks: false);
        Assert.Equal((plan.PlannedStoredBits, plan.PlannedParameters), (row.StoredBits, row.Parameters));
        Assert.True(row.BitsPerWeight <= 3.4);
    }

    [Theory]
    [InlineData("hybrid@3.5", true)]
    [InlineData("hybrid-nocb@2.75", true)]
    [InlineData("seq-gptvq", true)]
    [InlineData("hybrid@", false)]
    [InlineData("hybrid@-1", false)]
    [InlineData("hybrid@x", false)]
    [InlineData("gptq@3", false)]
    [InlineData("nonsense", false)]
    public void Method_keys_parse_or_are_refused_clearly(string key, bool valid)
    {
        if (valid)
            Assert.Equal(key.Contains('@', StringComparison.Ordinal) ? key : ComparisonMethod.Standard[key]().Name, ComparisonMethod.Parse(key).Name);
        else
            Assert.Contains(key, Assert.Throws<ArgumentException>(() => ComparisonMethod.Parse(key)).Message, StringComparison.Ordinal);
    }
}
