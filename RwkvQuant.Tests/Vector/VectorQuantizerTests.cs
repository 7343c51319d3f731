using RwkvQuant.Formats;
using RwkvQuant.Packing;
using RwkvQuant.Quantization;
using RwkvQuant.Vector;
using RwkvQuant.Vector.Gptvq;
using RwkvQuant.Vector.KMeans;

namespace RwkvQuant.Tests.Vector;

public class VectorQuantizerTests
{
    /// <summary>Budget of ‖W − Q‖² / ‖W‖² for Gaussian weights: 3-bit scalar codebooks of 64 weights (Lloyd–Max 8 levels: 0.035).</summary>
    private const double RelativeErrorBudgetB3D1 = 0.06;

    /// <summary>Budget for 4-bit 2-D codebooks (2 bits per weight; Lloyd–Max 4 levels per weight: 0.118).</summary>
    private const double RelativeErrorBudgetB4D2 = 0.2;

    /// <summary>Budget for 8-bit 4-D codebooks (2 bits per weight), few points per group so clustering fits well.</summary>
    private const double RelativeErrorBudgetB8D4 = 0.2;

    /// <summary>Codebook SVD of rank 4 of 8 in FP16: largest centroid deviation relative to the largest |centroid|.</summary>
    private const double SvdRank4Tolerance = 0.15;

    /// <summary>FP16 rounding of full-rank SVD factors: centroid deviation relative to the largest |centroid|.</summary>
    private const double SvdFullRankTolerance = 2e-3;

    public static TheoryData<int, int, int, int, int, int, double> Shapes => new()
    {
        { 37, 77, 1, 3, 2, 32, RelativeErrorBudgetB3D1 },
        { 5, 64, 1, 3, 2, 32, RelativeErrorBudgetB3D1 },
        { 33, 50, 2, 4, 3, 16, RelativeErrorBudgetB4D2 },
        { 9, 100, 4, 8, 4, 20, RelativeErrorBudgetB8D4 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void KMeans_codes_in_range_packing_exact_and_error_within_budget(int rows, int columns, int d, int bits, int groupRows, int groupColumns, double budget)
    {
        var options = new KMeansOptions { Dimension = d, Bits = bits, GroupRows = groupRows, GroupColumns = groupColumns };
        TensorData weight = VectorTestData.Weight(rows, columns, rows * columns);
        var q = (VectorQuantizedTensor)new KMeansVectorQuantizer(options).Quantize(weight);
        int[] codes = q.GetCodes();
        Assert.Equal(rows * columns / d, codes.Length);
        Assert.All(codes, c => Assert.InRange(c, 0, (1 << bits) - 1));
        Assert.Equal(q.PackedCodes.ToArray(), BitPacking.Pack(codes, bits));
        Assert.Equal(BitPacking.PackedLength(codes.Length, bits), q.PackedCodes.Length);
        Assert.True(RelativeError(weight.ToFloatArray(), q.Dequantize()) < budget);
        Assert.Equal(ExpectedBits(rows, columns, d, bits, groupRows, groupColumns, 8, 16), q.StoredBits);
    }

    [Fact]
    public void Paper_layout_stores_4_25_bits_per_weight()
    {
        // d = 1, b = 3, 2 × 32 groups, int8 codebook (8 × 8 bits) + FP16 scale: 3 + (64 + 16) / 64 = 4.25 bpw.
        // (The paper's 3.5 counts 4 bits per centroid without a scale: 3 + 8·4/64.)
        var q = new KMeansVectorQuantizer().Quantize(VectorTestData.Weight(64, 128, 1));
        Assert.Equal(4.25, q.BitsPerWeight, 12);
        var fp16 = new KMeansVectorQuantizer(new KMeansOptions { CodebookPrecision = CodebookPrecision.Fp16 }).Quantize(VectorTestData.Weight(64, 128, 1));
        Assert.Equal(3 + 8 * 16 / 64.0, fp16.BitsPerWeight, 12);
    }

    [Fact]
    public void Dequantize_reads_each_vector_from_its_group_codebook()
    {
        var q = (VectorQuantizedTensor)new KMeansVectorQuantizer(new KMeansOptions { Dimension = 2, Bits = 2, GroupRows = 2, GroupColumns = 4 })
            .Quantize(VectorTestData.Weight(5, 10, 3));
        int[] codes = q.GetCodes();
        float[] codebooks = q.GetCodebooks();
        float[] values = q.Dequantize();
        for (int r = 0; r < 5; r++)
        {
            for (int c = 0; c < 10; c++)
            {
                int group = r / 2 * 3 + c / 4;
                Assert.Equal(codebooks[group * 8 + codes[r * 5 + c / 2] * 2 + c % 2], values[r * 10 + c]);
            }
        }
    }

    [Fact]
    public void Bad_weights_are_rejected_with_the_tensor_name()
    {
        var quantizer = new KMeansVectorQuantizer(new KMeansOptions { Dimension = 2, GroupColumns = 4 });
        var odd = ArgumentException(() => quantizer.Quantize(VectorTestData.Weight(4, 7, 1)));
        Assert.Contains("blocks.0.att.key.weight", odd.Message);
        Assert.Throws<ArgumentException>(() => quantizer.Quantize(TensorData.FromFloats("v", [8], new float[8])));
        Assert.Throws<ArgumentException>(() => quantizer.Quantize(TensorData.FromFloats("w", [2, 4], [1, 2, 3, float.NaN, 1, 2, 3, 4])));
        var gptvq = new GptvqQuantizer();
        Assert.Throws<ArgumentException>(() => gptvq.Quantize(VectorTestData.Weight(4, 64, 1)));
        Assert.Throws<ArgumentException>(() => gptvq.Quantize(VectorTestData.Weight(4, 64, 1), Hessian.Identity(63)));
    }

    /// <summary>Codebooks are stored in FP16 (or int8 with an FP16 scale): weights beyond its range are refused rather
    /// than stored as infinite codebooks.</summary>
    [Theory]
    [InlineData(CodebookPrecision.Fp16)]
    [InlineData(CodebookPrecision.Int8WithScale)]
    public void Weights_beyond_the_range_of_FP16_codebooks_are_refused(CodebookPrecision precision)
    {
        float[] values = [.. VectorTestData.Weight(4, 64, 3).ToFloatArray().Select(v => v * 1e8f)];
        var quantizer = new KMeansVectorQuantizer(new KMeansOptions { Dimension = 2, Bits = 3, CodebookPrecision = precision });
        var error = Assert.Throws<ArgumentException>(() => quantizer.Quantize(TensorData.FromFloats("blocks.0.att.key.weight", [4, 64], values)));
        Assert.Contains("FP16", error.Message, StringComparison.Ordinal);
        Assert.Contains("blocks.0.att.key.weight", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Gptvq_options_are_validated()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new GptvqOptions { BlockSize = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new GptvqOptions { DampingFraction = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new GptvqOptions { RefinementIterations = -1 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new GptvqOptions { SvdRank = -1 });
        Assert.Throws<ArgumentNullException>(() => new GptvqOptions { Codebooks = null! });
        Assert.Throws<ArgumentException>(() => new GptvqQuantizer(new GptvqOptions { BlockSize = 48 }));
        Assert.Throws<ArgumentException>(() => new GptvqQuantizer(new GptvqOptions { SvdRank = 9 }));
        Assert.True(new GptvqQuantizer().RequiresHessian);
        Assert.False(new KMeansVectorQuantizer().RequiresHessian);
    }

    [Theory]
    [InlineData(1, 3)]
    [InlineData(2, 4)]
    public void Gptvq_beats_kmeans_on_correlated_inputs(int d, int bits)
    {
        const int rows = 34, columns = 96;
        var codebooks = new KMeansOptions { Dimension = d, Bits = bits, GroupRows = 2, GroupColumns = 32 };
        foreach (int seed in new[] { 1, 2, 3 })
        {
            TensorData weight = VectorTestData.Weight(rows, columns, seed);
            Hessian h = VectorTestData.CorrelatedHessian(columns, 2048, seed);
            float[] w = weight.ToFloatArray();
            QuantizedTensor plain = new KMeansVectorQuantizer(codebooks).Quantize(weight);
            QuantizedTensor gptvq = new GptvqQuantizer(new GptvqOptions { Codebooks = codebooks, BlockSize = 64 }).Quantize(weight, h);
            Assert.Equal(plain.StoredBits, gptvq.StoredBits);
            double plainError = h.WeightedError(w, plain.Dequantize());
            double gptvqError = h.WeightedError(w, gptvq.Dequantize());
            Assert.True(gptvqError < 0.8 * plainError, $"seed {seed}: GPTVQ {gptvqError} vs k-means {plainError}");
            Assert.Empty(gptvq.Notes);
        }
    }

    [Fact]
    public void Refinement_never_raises_the_weighted_error_and_approaches_the_least_squares_optimum()
    {
        const int rows = 6, columns = 40;
        TensorData weight = VectorTestData.Weight(rows, columns, 8);
        Hessian h = VectorTestData.CorrelatedHessian(columns, 500, 8);
        var codebooks = new KMeansOptions { GroupRows = 3, GroupColumns = 16, CodebookPrecision = CodebookPrecision.Fp16 };
        var q = (VectorQuantizedTensor)new KMeansVectorQuantizer(codebooks).Quantize(weight);
        int[] codes = q.GetCodes();
        double[] theta = Array.ConvertAll(q.GetCodebooks(), x => (double)x);
        var (before, after) = CentroidRefinement.Refine(weight.ToFloatArray(), h, q.Layout, codes, theta, 3, [], default);
        Assert.True(after < before);
        // Enough steps solve the small problem exactly: more steps do not improve it further.
        var (_, converged) = CentroidRefinement.Refine(weight.ToFloatArray(), h, q.Layout, codes, theta, 200, [], default);
        var (again, _) = CentroidRefinement.Refine(weight.ToFloatArray(), h, q.Layout, codes, (double[])theta.Clone(), 200, [], default);
        Assert.True(converged <= after);
        Assert.Equal(converged, again, converged * 1e-6);
    }

    [Fact]
    public void Svd_compression_stores_fewer_bits_and_reconstructs_the_codebooks()
    {
        TensorData weight = VectorTestData.Weight(32, 96, 5);
        Hessian h = VectorTestData.CorrelatedHessian(96, 512, 5);
        var fp16 = new KMeansOptions { CodebookPrecision = CodebookPrecision.Fp16 };
        var full = (VectorQuantizedTensor)new GptvqQuantizer(new GptvqOptions { Codebooks = fp16 }).Quantize(weight, h);
        var rank4 = (VectorQuantizedTensor)new GptvqQuantizer(new GptvqOptions { Codebooks = fp16, SvdRank = 4 }).Quantize(weight, h);
        var int8 = (VectorQuantizedTensor)new GptvqQuantizer().Quantize(weight, h);
        int groups = 16 * 3, codes = 32 * 96;
        Assert.Equal(8L * (codes * 3 / 8) + 16L * 4 * (groups + 8), rank4.StoredBits);
        Assert.True(rank4.StoredBits < int8.StoredBits && int8.StoredBits < full.StoredBits);
        Assert.Equal(4, rank4.SvdRank);

        // The factors reproduce the (sorted) codebooks: compare each weight's centroid, which does not depend on order.
        float[] exact = full.Dequantize(), compressed = rank4.Dequantize();
        double largest = exact.Max(Math.Abs);
        for (int i = 0; i < exact.Length; i++)
            Assert.True(Math.Abs(exact[i] - compressed[i]) <= SvdRank4Tolerance * largest, $"weight {i}: {exact[i]} vs {compressed[i]}");

        // Directly: full-rank factors give back the codebooks up to FP16 rounding.
        var layout = new VectorLayout(4, 64, 1, 3, 2, 32);
        double[] books = Array.ConvertAll(VectorTestData.Gaussian(4 * 8, 3), x => (double)x);
        var order = new int[4 * 64];
        CodebookStore store = CodebookStore.EncodeSvd(books, layout, 4, order);
        float[] decoded = store.Decode();
        for (int g = 0; g < 4; g++)
        {
            double[] expected = books.Skip(g * 8).Take(8).Order().ToArray();
            for (int j = 0; j < 8; j++)
                Assert.Equal(expected[j], decoded[g * 8 + j], SvdFullRankTolerance * 3);
        }
    }

    [Fact]
    public void Gptvq_handles_dead_columns_and_partial_groups()
    {
        const int rows = 7, columns = 70;
        TensorData weight = VectorTestData.Weight(rows, columns, 2);
        Hessian full = VectorTestData.CorrelatedHessian(columns, 300, 2);
        var values = full.Values.ToArray();
        for (int i = 0; i < columns; i++)
        {
            values[i * columns + 5] = 0;
            values[5 * columns + i] = 0;
        }
        var h = new Hessian(columns, values, full.SampleCount);
        var q = new GptvqQuantizer(new GptvqOptions { Codebooks = new KMeansOptions { Dimension = 2, Bits = 4 } }).Quantize(weight, h);
        float[] dequantized = q.Dequantize();
        Assert.All(dequantized, v => Assert.True(float.IsFinite(v)));
        Assert.True(h.WeightedError(weight.ToFloatArray(), dequantized) < 0.2 * h.WeightedError(weight.ToFloatArray(), new float[rows * columns]));
        Assert.Equal(q.Dequantize(), new GptvqQuantizer(new GptvqOptions { Codebooks = new KMeansOptions { Dimension = 2, Bits = 4 } }).Quantize(weight, h).Dequantize());
    }

    private static ArgumentException ArgumentException(Action action) => Assert.Throws<ArgumentException>(action);

    private static long ExpectedBits(int rows, int columns, int d, int bits, int groupRows, int groupColumns, int codebookBits, int scaleBits)
    {
        long groups = (long)((rows + groupRows - 1) / groupRows) * ((columns + groupColumns - 1) / groupColumns);
        long codeBits = 8 * (((long)rows * columns / d * bits + 7) / 8);
        return codeBits + groups * ((1L << bits) * d * codebookBits + scaleBits);
    }

    private static double RelativeError(float[] w, float[] q)
    {
        double error = 0, norm = 0;
        for (int i = 0; i < w.Length; i++)
        {
            error += (w[i] - q[i]) * (double)(w[i] - q[i]);
            norm += w[i] * (double)w[i];
        }
        return error / norm;
    }
}
