using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Inference;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar;
using RwkvQuant.Scalar.Ggml;
using RwkvQuant.Scalar.Gptq;
using RwkvQuant.Scalar.KQuants;
using RwkvQuant.Kernels.Packed;
using RwkvQuant.Scalar.Rtn;
using RwkvQuant.Tests.Scalar;
using RwkvQuant.Vector;
using RwkvQuant.Vector.Gptvq;
using RwkvQuant.Vector.KMeans;

namespace RwkvQuant.Tests.Inference;

/// <summary>Each matrix-vector product against its reference: Dequantize() (or the kept floats), then a plain product.</summary>
public class MatrixVectorProductTests
{
    public static TheoryData<int, bool, ScalePrecision> RtnSettings()
    {
        var data = new TheoryData<int, bool, ScalePrecision>();
        for (int bits = 2; bits <= 8; bits++)
        {
            data.Add(bits, false, ScalePrecision.F16);
            data.Add(bits, true, ScalePrecision.F16);
            data.Add(bits, bits % 2 == 0, ScalePrecision.Int6);
        }
        data.Add(3, false, ScalePrecision.BF16);
        data.Add(5, true, ScalePrecision.F32);
        return data;
    }

    [Theory]
    [MemberData(nameof(RtnSettings))]
    public void Round_to_nearest_tensors_multiply_like_their_dequantization(int bits, bool symmetric, ScalePrecision precision)
    {
        TensorData weight = ScalarTestData.Weight(bits, 37, 131);
        var quantizer = new RoundToNearestQuantizer(new RoundToNearestOptions { Bits = bits, GroupSize = 32, Symmetric = symmetric, ScalePrecision = precision });
        AssertMatches(quantizer.Quantize(weight), seed: bits);
    }

    [Theory]
    [InlineData(2, 8)]
    [InlineData(3, 64)]
    [InlineData(3, 24)]
    [InlineData(4, 32)]
    [InlineData(5, 16)]
    [InlineData(6, 64)]
    [InlineData(7, 8)]
    [InlineData(8, 40)]
    public void Group_scalar_products_match_their_dequantization_with_a_short_last_group(int bits, int groupSize)
    {
        // 136 columns: whole bytes per 8 codes, and with groups of 24, 40 or 64 a short last group.
        TensorData weight = ScalarTestData.Weight(bits + 20, 37, 136);
        Hessian h = ScalarTestData.CorrelatedHessian(bits, 136, samples: 64);
        AssertMatches(new RoundToNearestQuantizer(new RoundToNearestOptions { Bits = bits, GroupSize = groupSize }).Quantize(weight), seed: bits);
        AssertMatches(new GptqQuantizer(new GptqOptions { Bits = bits, GroupSize = groupSize, Symmetric = true, ActOrder = true }).Quantize(weight, h), seed: bits);
    }

    [Theory]
    [InlineData(3, false, false)]
    [InlineData(3, false, true)]
    [InlineData(4, true, true)]
    [InlineData(2, false, true)]
    [InlineData(3, false, true, ScalePrecision.Int6)]
    [InlineData(4, true, false, ScalePrecision.Int6)]
    public void Gptq_tensors_multiply_like_their_dequantization_with_and_without_act_order(int bits, bool symmetric, bool actOrder,
        ScalePrecision precision = ScalePrecision.F16)
    {
        TensorData weight = ScalarTestData.Weight(11, 41, 97);
        Hessian h = ScalarTestData.CorrelatedHessian(11, 97, samples: 128);
        var quantizer = new GptqQuantizer(new GptqOptions { Bits = bits, GroupSize = 16, Symmetric = symmetric, ActOrder = actOrder, ScalePrecision = precision });
        var tensor = (GroupScalarTensor)quantizer.Quantize(weight, h);
        Assert.Equal(actOrder, tensor.HasPermutation);
        AssertMatches(tensor, seed: 3);
    }

    [Theory]
    [InlineData(1, CodebookPrecision.Int8WithScale)]
    [InlineData(2, CodebookPrecision.Int8WithScale)]
    [InlineData(4, CodebookPrecision.Int8WithScale)]
    [InlineData(1, CodebookPrecision.Fp16)]
    [InlineData(2, CodebookPrecision.Fp16)]
    [InlineData(4, CodebookPrecision.Fp16)]
    public void KMeans_tensors_multiply_like_their_dequantization(int dimension, CodebookPrecision precision)
    {
        TensorData weight = ScalarTestData.Weight(5, 37, 132);
        var quantizer = new KMeansVectorQuantizer(new KMeansOptions
        {
            Dimension = dimension, Bits = dimension == 4 ? 6 : 3, GroupRows = 16, GroupColumns = 64,
            MaxIterations = 5, CodebookPrecision = precision,
        });
        var tensor = (VectorQuantizedTensor)quantizer.Quantize(weight);
        Assert.True(tensor.CodebookCount > 1);
        AssertMatches(tensor, seed: dimension);
    }

    [Theory]
    [InlineData(2, 16)]
    [InlineData(3, 32)]
    [InlineData(3, 24)]
    [InlineData(4, 64)]
    public void Scalar_codebook_products_match_their_dequantization_with_a_narrow_last_group(int bits, int groupColumns)
    {
        // 136 columns: whole bytes per 8 codes; groups of 24 or 64 columns leave a narrower last group.
        TensorData weight = ScalarTestData.Weight(bits + 30, 37, 136);
        var quantizer = new KMeansVectorQuantizer(new KMeansOptions { Dimension = 1, Bits = bits, GroupRows = 8, GroupColumns = groupColumns, MaxIterations = 3 });
        AssertMatches(quantizer.Quantize(weight), seed: bits);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public void Gptvq_tensors_multiply_like_their_dequantization_with_and_without_svd_codebooks(int svdRank)
    {
        TensorData weight = ScalarTestData.Weight(9, 45, 128);
        Hessian h = ScalarTestData.CorrelatedHessian(9, 128, samples: 128);
        var quantizer = new GptvqQuantizer(new GptvqOptions
        {
            Codebooks = new KMeansOptions { Dimension = 1, Bits = 3, GroupRows = 16, GroupColumns = 64, MaxIterations = 5 },
            BlockSize = 64, SvdRank = svdRank,
        });
        var tensor = (VectorQuantizedTensor)quantizer.Quantize(weight, h);
        Assert.Equal(svdRank, tensor.SvdRank);
        AssertMatches(tensor, seed: 4);
    }

    [Theory]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_1)]
    [InlineData(GgmlType.Q5_0)]
    [InlineData(GgmlType.Q5_1)]
    [InlineData(GgmlType.Q8_0)]
    public void Ggml_block_tensors_multiply_like_their_dequantization(GgmlType type)
    {
        var quantizer = new GgmlQuantizer(new GgmlQuantizerOptions(type));
        AssertMatches(quantizer.Quantize(ScalarTestData.Weight(2, 37, 160)), seed: 2);

        // 96 values in three blocks as a [2, 48] matrix: the middle block straddles the two rows.
        var flat = (GgmlBlockTensor)quantizer.Quantize(ScalarTestData.Weight(3, 1, 96));
        AssertMatches(new GgmlBlockTensor("straddling", 2, 48, type, flat.Blocks.ToArray()), seed: 5);
    }

    [Theory]
    [InlineData(KQuantType.Q2_K)]
    [InlineData(KQuantType.Q3_K)]
    [InlineData(KQuantType.Q4_K)]
    [InlineData(KQuantType.IQ4_XS)]
    [InlineData(KQuantType.IQ4_NL)]
    [InlineData(KQuantType.IQ3_S)]
    public void KQuant_tensors_multiply_like_their_dequantization(KQuantType type)
    {
        var quantizer = new KQuantizer(new KQuantizerOptions(type));
        AssertMatches(quantizer.Quantize(ScalarTestData.Weight(2, 37, 768)), seed: 2);
        AssertMatches(quantizer.Quantize(ScalarTestData.Weight(3, 640, 544)), seed: 3); // IQ4_NL fallback on 544 columns, rows in parallel
    }

    [Theory]
    [InlineData(TensorDataType.F32)]
    [InlineData(TensorDataType.F16)]
    [InlineData(TensorDataType.BF16)]
    public void Kept_matrices_multiply_from_their_stored_bytes(TensorDataType type)
    {
        TensorData matrix = ScalarTestData.Weight(8, 37, 2100).ConvertTo(type); // long rows: many vector steps and a tail (HalfMatVecTests holds each tier exact)
        IMatrixVectorProduct product = MatrixVectorProducts.Default.Create(matrix);
        Assert.IsType<DenseMatrixProduct>(product);
        Assert.Equal(matrix.Bytes.Length, product.WeightBytes);
        AssertProductMatches(product, matrix.ToFloatArray(), seed: 6);
    }

    [Fact]
    public void Large_products_split_across_threads_give_the_same_result()
    {
        // 640 × 544 = 348,160 weights: above the threshold from which rows run in parallel.
        Assert.True(640L * 544 >= RowParallel.ParallelThreshold);
        TensorData weight = ScalarTestData.Weight(12, 640, 544);
        AssertMatches(new RoundToNearestQuantizer(new RoundToNearestOptions { Bits = 3, GroupSize = 64 }).Quantize(weight), seed: 1);
        AssertMatches(new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q4_0)).Quantize(weight), seed: 1);
        AssertMatches(new KMeansVectorQuantizer(new KMeansOptions { MaxIterations = 2 }).Quantize(weight), seed: 1);
        AssertProductMatches(MatrixVectorProducts.Default.Create(weight.ConvertTo(TensorDataType.F16)),
            weight.ConvertTo(TensorDataType.F16).ToFloatArray(), seed: 1);
    }

    [Fact]
    public void Shapes_are_checked()
    {
        IMatrixVectorProduct product = MatrixVectorProducts.Default.Create(ScalarTestData.Weight(1, 3, 5));
        Assert.Throws<ArgumentException>(() => product.Multiply(new float[4], new float[3]));
        Assert.Throws<ArgumentException>(() => product.Multiply(new float[5], new float[2]));
        Assert.Throws<ArgumentOutOfRangeException>(() => product.DecodeRow(3, new float[5]));
        Assert.Throws<ArgumentException>(() => product.Multiply(new float[10], new float[3], 2));
        Assert.Throws<ArgumentException>(() => product.Multiply(new float[10], new float[6], 0));
        Assert.Throws<ArgumentException>(() => MatrixVectorProducts.Default.Create(TensorData.FromFloats("v", [5], new float[5])));
    }

    [Fact]
    public void The_fused_kernels_take_the_quantizers_default_settings_where_the_machine_runs_them()
    {
        TensorData weight = ScalarTestData.Weight(13, 37, 192);
        Hessian h = ScalarTestData.CorrelatedHessian(13, 192, samples: 64);
        QuantizedTensor[] defaults =
        [
            new RoundToNearestQuantizer(new RoundToNearestOptions { Bits = 3, GroupSize = 64 }).Quantize(weight),
            new GptqQuantizer(new GptqOptions { Bits = 3, GroupSize = 64, ActOrder = true }).Quantize(weight, h),
            new GptvqQuantizer(new GptvqOptions { Codebooks = new KMeansOptions { MaxIterations = 2 } }).Quantize(weight, h),
            new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q4_0)).Quantize(weight),
        ];
        // Group-scalar codes: the bit-plane lookup (128-bit, AVX2 or AVX-512); ggml blocks: every SIMD tier; VQ codes
        // (1-D, 8 entries, groups of 32 columns): 128-bit, AVX2 or AVX-512.
        foreach (QuantizedTensor tensor in defaults)
            Assert.Equal(tensor switch
            {
                GroupScalarTensor => RwkvQuant.Kernels.MatVec.BitPlaneMatVec.IsSupported,
                GgmlBlockTensor => RwkvQuant.Kernels.MatVec.GgmlMatVec.Tier != RwkvQuant.Kernels.MatVec.SimdTier.Scalar,
                _ => RwkvQuant.Kernels.MatVec.SimdTiers.IsSupported(RwkvQuant.Kernels.MatVec.SimdTier.Vector128),
            }, FusedMatrixVectorProducts.Handles(tensor));

        // What the kernels cannot run fast goes to the portable row-decoding product.
        QuantizedTensor wideCodebooks = new KMeansVectorQuantizer(new KMeansOptions { Dimension = 4, Bits = 5, MaxIterations = 2 }).Quantize(weight);
        Assert.False(FusedMatrixVectorProducts.Handles(wideCodebooks));
        // 2-D codebooks of 32 pairs (the budget allocation's d2 b5): read pair by pair on AVX2 (AVX-512 machines run it) and on 128-bit SIMD.
        QuantizedTensor pairCodebooks = new KMeansVectorQuantizer(new KMeansOptions { Dimension = 2, Bits = 5, MaxIterations = 2 }).Quantize(weight);
        Assert.Equal(RwkvQuant.Kernels.MatVec.SimdTiers.IsSupported(RwkvQuant.Kernels.MatVec.SimdTier.Avx2)
            || RwkvQuant.Kernels.MatVec.VectorCodesMatVec.Runs(RwkvQuant.Kernels.MatVec.SimdTier.Vector128), FusedMatrixVectorProducts.Handles(pairCodebooks));
        Assert.False(FusedMatrixVectorProducts.Handles(new RoundToNearestQuantizer(new RoundToNearestOptions { Bits = 3, GroupSize = 20 }).Quantize(weight)));
        // Groups of 24 columns are whole bit-plane column blocks but not whole 16-code segments: the lookup kernel only.
        Assert.Equal(RwkvQuant.Kernels.MatVec.BitPlaneMatVec.IsSupported,
            FusedMatrixVectorProducts.Handles(new RoundToNearestQuantizer(new RoundToNearestOptions { Bits = 3, GroupSize = 24 }).Quantize(weight)));
        var straddling = (GgmlBlockTensor)new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q4_0)).Quantize(ScalarTestData.Weight(3, 1, 96));
        Assert.False(FusedMatrixVectorProducts.Handles(new GgmlBlockTensor("straddling", 2, 48, GgmlType.Q4_0, straddling.Blocks.ToArray())));
    }

    /// <summary>
    /// The product and every decoded row equal the reference dequantization's, for the portable row-decoding product and
    /// for the engine's default (the fused kernel where it takes the tensor).
    /// </summary>
    private static void AssertMatches(QuantizedTensor tensor, int seed)
    {
        foreach (IMatrixVectorProductFactory factory in new IMatrixVectorProductFactory[] { MatrixVectorProducts.Default, FusedMatrixVectorProducts.FloatLookup })
        {
            IMatrixVectorProduct product = factory.Create(tensor);
            // Blocks straddling rows (a hand-built tensor) are multiplied as the float32 matrix they decode to.
            bool straddling = tensor is GgmlBlockTensor { Columns: var columns } && columns % GgmlTypes.BlockSize != 0;
            Assert.Equal(straddling ? 4L * tensor.Dequantize().Length : (tensor.StoredBits + 7) / 8, product.WeightBytes);
            AssertProductMatches(product, tensor.Dequantize(), seed);
        }
        if (FusedMatrixVectorProducts.Default.Lookup == GroupScalarLookup.Int8Tables && FusedMatrixVectorProducts.Handles(tensor))
        {
            // The 8-bit tables round x's subset sums: the product is within 2% of Σ|w·x| (the kernel's own tests hold it to
            // its exact rounding bound); decoded rows are exact.
            IMatrixVectorProduct product = FusedMatrixVectorProducts.Default.Create(tensor);
            AssertProductMatches(product, tensor.Dequantize(), seed, tolerance: tensor is GroupScalarTensor ? 2e-2 : 1e-5);
        }
    }

    private static void AssertProductMatches(IMatrixVectorProduct product, float[] weights, int seed, double tolerance = 1e-5)
    {
        int rows = product.Rows, columns = product.Columns;
        var random = new Random(seed);
        float[] x = Enumerable.Range(0, columns).Select(_ => (float)ScalarTestData.Gaussian(random)).ToArray();
        var y = new float[rows];
        product.Multiply(x, y);
        // The batch (a prompt's tokens): the same x and two others, each held to the reference on its own.
        const int vectors = 3;
        float[] batch = [.. x, .. Enumerable.Range(0, (vectors - 1) * columns).Select(_ => (float)ScalarTestData.Gaussian(random))];
        var batchY = new float[vectors * rows];
        product.Multiply(batch, batchY, vectors);
        var row = new float[columns];
        for (int r = 0; r < rows; r++)
        {
            for (int n = 0; n < vectors; n++)
            {
                double expected = 0, magnitude = 0;
                for (int c = 0; c < columns; c++)
                {
                    expected += (double)weights[(long)r * columns + c] * batch[n * columns + c];
                    magnitude += Math.Abs((double)weights[(long)r * columns + c] * batch[n * columns + c]);
                }
                Assert.True(Math.Abs(batchY[n * rows + r] - expected) <= tolerance * magnitude + 1e-7, $"{product.Name} row {r} of vector {n} of the batch: {batchY[n * rows + r]} vs {expected}");
                if (n == 0)
                    Assert.True(Math.Abs(y[r] - expected) <= tolerance * magnitude + 1e-7, $"{product.Name} row {r}: {y[r]} vs {expected}");
            }
            product.DecodeRow(r, row);
            Assert.Equal(weights.AsSpan(checked(r * columns), columns).ToArray(), row); // decoded rows are exact
        }
    }
}
