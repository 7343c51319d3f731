using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Inference;
using RwkvQuant.Kernels.Accelerators;
using RwkvQuant.Kernels.MatVec;
using RwkvQuant.Kernels.Packed;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar;
using RwkvQuant.Scalar.Ggml;
using RwkvQuant.Scalar.Gptq;
using RwkvQuant.Scalar.Rtn;
using RwkvQuant.Tests.Kernels;
using RwkvQuant.Tests.Scalar;
using RwkvQuant.Vector;
using RwkvQuant.Vector.Gptvq;
using RwkvQuant.Vector.KMeans;

namespace RwkvQuant.Tests.Inference;

/// <summary>
/// Real quantizers' tensors converted to the packed layouts: the layouts must dequantize to exactly the tensor's own
/// Dequantize() (this is what proves the stored parts are read correctly), and the fast CPU and ILGPU-CPU products must
/// match W·x with that W.
/// </summary>
public sealed class PackedLayoutsTests : IDisposable
{
    private readonly KernelDevice _device = KernelDevice.Create(KernelDeviceKind.Cpu);

    public static TheoryData<int, int, bool, int> RtnCases()
    {
        var data = new TheoryData<int, int, bool, int>();
        for (int bits = 2; bits <= 8; bits++)
            data.Add(bits, 64, false, (int)ScalePrecision.F16);
        data.Add(3, 64, true, (int)ScalePrecision.BF16);
        data.Add(4, 32, false, (int)ScalePrecision.F32);
        data.Add(3, 50, false, (int)ScalePrecision.BF16);
        data.Add(5, 128, true, (int)ScalePrecision.F16);
        return data;
    }

    [Theory]
    [MemberData(nameof(RtnCases))]
    public void Round_to_nearest_tensors_convert_exactly(int bits, int groupSize, bool symmetric, int precision)
    {
        var rtn = new RoundToNearestQuantizer(new RoundToNearestOptions
        {
            Bits = bits, GroupSize = groupSize, Symmetric = symmetric, ScalePrecision = (ScalePrecision)precision,
        });
        var tensor = (GroupScalarTensor)rtn.Quantize(ScalarTestData.Weight(bits, 37, 131));
        PackedGroupScalar packed = PackedLayouts.ToPacked(tensor);
        Check(tensor, packed.Rows, packed.Columns, PackedReference.Dequantize(packed),
            BitPlanes(packed), launcher => launcher.Dequantize(packed),
            (launcher, x, y, n) => launcher.MatVec(packed, x, y, n));
    }

    [Fact]
    public void Gptq_act_order_tensors_convert_exactly()
    {
        const int Columns = 96;
        var gptq = new GptqQuantizer(new GptqOptions { Bits = 3, GroupSize = 32, ActOrder = true });
        var tensor = (GroupScalarTensor)gptq.Quantize(ScalarTestData.Weight(3, 21, Columns), ScalarTestData.CorrelatedHessian(3, Columns));
        Assert.True(tensor.HasPermutation);
        PackedGroupScalar packed = PackedLayouts.ToPacked(tensor);
        Check(tensor, packed.Rows, packed.Columns, PackedReference.Dequantize(packed),
            BitPlanes(packed), launcher => launcher.Dequantize(packed),
            (launcher, x, y, n) => launcher.MatVec(packed, x, y, n));
    }

    [Theory]
    [InlineData(1, 3, (int)CodebookPrecision.Int8WithScale)]
    [InlineData(2, 4, (int)CodebookPrecision.Int8WithScale)]
    [InlineData(4, 3, (int)CodebookPrecision.Fp16)]
    [InlineData(1, 6, (int)CodebookPrecision.Fp16)]
    public void KMeans_tensors_convert_exactly(int dimension, int bits, int precision)
    {
        var kmeans = new KMeansVectorQuantizer(new KMeansOptions
        {
            Dimension = dimension, Bits = bits, GroupRows = 2, GroupColumns = 32, MaxIterations = 10,
            CodebookPrecision = (CodebookPrecision)precision,
        });
        var tensor = (VectorQuantizedTensor)kmeans.Quantize(ScalarTestData.Weight(dimension * 10 + bits, 37, 132));
        CheckVector(tensor);
    }

    [Fact]
    public void Gptvq_svd_tensors_convert_exactly()
    {
        const int Columns = 128;
        var gptvq = new GptvqQuantizer(new GptvqOptions
        {
            Codebooks = new KMeansOptions { Dimension = 2, Bits = 3, GroupRows = 8, GroupColumns = 32, MaxIterations = 5 },
            SvdRank = 2, RefinementIterations = 1,
        });
        var tensor = (VectorQuantizedTensor)gptvq.Quantize(ScalarTestData.Weight(5, 32, Columns), ScalarTestData.CorrelatedHessian(5, Columns));
        Assert.True(tensor.SvdRank > 0);
        CheckVector(tensor);
    }

    [Theory]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_1)]
    [InlineData(GgmlType.Q5_0)]
    [InlineData(GgmlType.Q5_1)]
    [InlineData(GgmlType.Q8_0)]
    public void Ggml_tensors_convert_exactly(GgmlType type)
    {
        GgmlBlockTensor tensor = new GgmlQuantizer(new GgmlQuantizerOptions(type)).QuantizeTensor(ScalarTestData.Weight(1, 37, 96));
        PackedGgmlBlocks packed = PackedLayouts.ToPacked(tensor);
        Check(tensor, packed.Rows, packed.Columns, PackedReference.Dequantize(packed),
            (x, y, n) => GgmlMatVec.MatVec(packed, x, y, n), launcher => launcher.Dequantize(packed),
            (launcher, x, y, n) => launcher.MatVec(packed, x, y, n));
    }

    private void CheckVector(VectorQuantizedTensor tensor)
    {
        PackedVectorCodes packed = PackedLayouts.ToPacked(tensor);
        Check(tensor, packed.Rows, packed.Columns, PackedReference.Dequantize(packed),
            (x, y, n) => VectorCodesMatVec.MatVec(packed, x, y, n), launcher => launcher.Dequantize(packed),
            (launcher, x, y, n) => launcher.MatVec(packed, x, y, n));
    }

    /// <summary>The bit-plane product where it runs on this machine and takes the group size, else none.</summary>
    private static Action<float[], float[], int>? BitPlanes(PackedGroupScalar packed)
    {
        if (!BitPlaneMatVec.IsSupported || !PackedBitPlanes.Fits(packed.GroupSize))
            return null;
        PackedBitPlanes planes = PackedBitPlanes.From(packed);
        return (x, y, n) => BitPlaneMatVec.MatVec(planes, x, y, n);
    }

    private void Check(QuantizedTensor tensor, int rows, int columns, float[] dequantized, Action<float[], float[], int>? fast,
        Func<PackedKernelLauncher, float[]> kernelDequantize, Action<PackedKernelLauncher, float[], float[], int> kernelProduct)
    {
        float[] expected = tensor.Dequantize();
        Assert.Equal(expected, dequantized);
        PackedKernelLauncher launcher = PackedKernelLauncher.For(_device.Accelerator);
        Assert.Equal(expected, kernelDequantize(launcher));
        foreach (int vectors in new[] { 1, 5 })
        {
            float[] x = PackedTestData.Vectors(vectors, columns, seed: vectors);
            var reference = new float[vectors * rows];
            PackedReference.MatVec(expected, rows, columns, x, reference, vectors);
            // Group-sum tricks round with the size of the grid (≈ 2·max|w| per row), not with |w|: bound by that.
            float[] bound = new float[vectors * rows];
            for (int n = 0; n < vectors; n++)
                for (int r = 0; r < rows; r++)
                {
                    float rowMax = expected.AsSpan(r * columns, columns).ToArray().Max(Math.Abs);
                    bound[n * rows + r] = 4 * rowMax * x.AsSpan(n * columns, columns).ToArray().Sum(Math.Abs);
                }
            var actual = new float[vectors * rows];
            if (fast is not null)
            {
                fast(x, actual, vectors);
                PackedTestData.AssertClose(reference, actual, bound, 1e-5, $"{tensor.Scheme} fast n{vectors}");
                Array.Clear(actual);
            }
            kernelProduct(launcher, x, actual, vectors);
            PackedTestData.AssertClose(reference, actual, bound, 1e-5, $"{tensor.Scheme} ILGPU n{vectors}");
        }
    }

    public void Dispose() => _device.Dispose();
}
