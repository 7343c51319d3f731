using RwkvQuant.Calibration;
using RwkvQuant.Evaluation;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Models;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar.Ggml;
using RwkvQuant.Scalar.Gptq;
using RwkvQuant.Scalar.Rtn;
using RwkvQuant.Tokenizers;
using RwkvQuant.Vector.Gptvq;
using RwkvQuant.Vector.KMeans;
using Xunit.Abstractions;

namespace RwkvQuant.Tests.Evaluation;

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
}
