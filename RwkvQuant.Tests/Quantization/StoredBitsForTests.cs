using RwkvQuant.Codebooks;
using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar;
using RwkvQuant.Scalar.Ggml;
using RwkvQuant.Scalar.Gptq;
using RwkvQuant.Scalar.KQuants;
using RwkvQuant.Kernels.Packed;
using RwkvQuant.Scalar.Rtn;
using RwkvQuant.Vector;
using RwkvQuant.Vector.Gptvq;
using RwkvQuant.Vector.KMeans;

namespace RwkvQuant.Tests.Quantization;

/// <summary>The bit budget is planned from <c>StoredBitsFor</c>: it must equal what quantizing really stores.</summary>
public class StoredBitsForTests
{
    private static TensorData Weight(int rows, int columns, int seed)
    {
        var random = new Random(seed);
        float[] values = Enumerable.Range(0, rows * columns).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        return TensorData.FromFloats("w", [rows, columns], values);
    }

    public static TheoryData<string> Quantizers => new(Scalars.Keys.Concat(Vectors.Keys));

    private static readonly Dictionary<string, IScalarQuantizer> Scalars = new()
    {
        ["rtn a3 g64"] = new RoundToNearestQuantizer(new RoundToNearestOptions { Bits = 3, GroupSize = 64 }),
        ["rtn s5 g17 bf16"] = new RoundToNearestQuantizer(new RoundToNearestOptions { Bits = 5, GroupSize = 17, Symmetric = true, ScalePrecision = ScalePrecision.BF16 }),
        ["gptq a2 g128 f32"] = new GptqQuantizer(new GptqOptions { Bits = 2, GroupSize = 128, ScalePrecision = ScalePrecision.F32 }),
        ["gptq a3 g64 act-order"] = new GptqQuantizer(new GptqOptions { Bits = 3, GroupSize = 64, ActOrder = true }),
        ["q4_0"] = new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q4_0)),
        ["q5_1"] = new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q5_1)),
        ["q2_k imatrix"] = new KQuantizer(new KQuantizerOptions(KQuantType.Q2_K, useImportance: true)),
        ["q3_k"] = new KQuantizer(new KQuantizerOptions(KQuantType.Q3_K)),
        ["q4_k"] = new KQuantizer(new KQuantizerOptions(KQuantType.Q4_K)),
        ["q4_k imatrix"] = new KQuantizer(new KQuantizerOptions(KQuantType.Q4_K, useImportance: true)),
        ["iq4_xs imatrix"] = new KQuantizer(new KQuantizerOptions(KQuantType.IQ4_XS, useImportance: true)),
        ["iq3_s imatrix"] = new KQuantizer(new KQuantizerOptions(KQuantType.IQ3_S, useImportance: true)),
    };

    private static readonly Dictionary<string, IVectorQuantizer> Vectors = new()
    {
        ["kmeans d1 b3"] = new KMeansVectorQuantizer(new KMeansOptions { Dimension = 1, Bits = 3, MaxIterations = 3 }),
        ["kmeans d2 b5 fp16 3x10"] = new KMeansVectorQuantizer(new KMeansOptions { Dimension = 2, Bits = 5, GroupRows = 3, GroupColumns = 10, MaxIterations = 3, CodebookPrecision = CodebookPrecision.Fp16 }),
        ["gptvq d1 b3 4x64"] = new GptvqQuantizer(new GptvqOptions { Codebooks = new KMeansOptions { Dimension = 1, Bits = 3, GroupRows = 4, GroupColumns = 64, MaxIterations = 3 } }),
        ["gptvq d1 b3 svd4"] = new GptvqQuantizer(new GptvqOptions { Codebooks = new KMeansOptions { Dimension = 1, Bits = 3, MaxIterations = 3 }, SvdRank = 4 }),
    };

    [Theory]
    [MemberData(nameof(Quantizers))]
    public void Planned_bits_equal_stored_bits_on_odd_shapes(string key)
    {
        bool ggml = key.StartsWith('q') || key.StartsWith("iq", StringComparison.Ordinal);
        foreach ((int rows, int columns) in ggml ? new[] { (7, 96), (1, 32), (13, 160), (3, 512) } : [(7, 130), (1, 1 * 2), (13, 160), (37, 77 * 2)])
        {
            TensorData w = Weight(rows, columns, rows * 1000 + columns);
            Hessian h = Hessian.Identity(columns);
            Func<long> plan, quantize;
            if (Scalars.TryGetValue(key, out IScalarQuantizer? s))
                (plan, quantize) = (() => s.StoredBitsFor(rows, columns), () => s.Quantize(w, h).StoredBits);
            else
                (plan, quantize) = (() => Vectors[key].StoredBitsFor(rows, columns), () => Vectors[key].Quantize(w, h).StoredBits);
            long stored;
            try
            {
                stored = quantize();
            }
            catch (ArgumentException)
            {
                Assert.ThrowsAny<ArgumentException>(() => plan()); // what cannot be quantized cannot be planned either
                continue;
            }
            Assert.True(plan() == stored, $"{key} [{rows}, {columns}]: planned {plan()}, stored {stored}");
        }
    }

    [Fact]
    public void A_shape_the_options_cannot_take_is_refused_when_planning_too()
    {
        Assert.Throws<ArgumentException>(() => Scalars["q4_0"].StoredBitsFor(4, 33));
        Assert.Throws<ArgumentException>(() => Vectors["kmeans d2 b5 fp16 3x10"].StoredBitsFor(4, 33));
        Assert.Throws<ArgumentOutOfRangeException>(() => Scalars["rtn a3 g64"].StoredBitsFor(0, 8));
    }

    [Theory]
    [InlineData(64)]
    [InlineData(100)]
    [InlineData(7)]
    public void Codebook_optimizers_plan_their_stored_bits(int length)
    {
        var random = new Random(length);
        float[] mu = Enumerable.Range(0, length).Select(_ => (float)random.NextDouble()).ToArray();
        float[] s = Enumerable.Range(0, length).Select(_ => (float)random.NextDouble() + 0.1f).ToArray();
        TensorData vector = TensorData.FromFloats("mu", [length], mu);
        ICodebookOptimizer[] optimizers = [new ActivationWeightedCodebookOptimizer(), new UnweightedCodebookOptimizer(new CodebookOptimizerOptions { Bits = 2, GroupSize = 32 })];
        foreach (ICodebookOptimizer optimizer in optimizers)
            Assert.Equal(optimizer.Quantize(vector, s).StoredBits, optimizer.StoredBitsFor(length));
    }
}
