using RwkvQuant.Formats;
using RwkvQuant.Packing;
using RwkvQuant.Quantization;
using RwkvQuant.Vector;
using RwkvQuant.Vector.Gptvq;
using RwkvQuant.Vector.KMeans;

namespace RwkvQuant.Tests.Vector.Gptvq;

public class GptvqQuantizerTests
{
    /// <summary>Codebook SVD of rank 4 of 8 in FP16: largest centroid deviation relative to the largest |centroid|.</summary>
    private const double SvdRank4Tolerance = 0.15;

    /// <summary>FP16 rounding of full-rank SVD factors: centroid deviation relative to the largest |centroid|.</summary>
    private const double SvdFullRankTolerance = 2e-3;

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
}
