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
