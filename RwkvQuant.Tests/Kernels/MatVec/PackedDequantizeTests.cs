using RwkvQuant.Kernels.MatVec;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Tests.Kernels.MatVec;

/// <summary>The fast dequantization is bit-identical to the reference, on every path.</summary>
public class PackedDequantizeTests
{
    [Theory]
    [InlineData(37, 131, 3, 64, false, (int)ScaleFormat.F16, false)]
    [InlineData(37, 131, 2, 32, true, (int)ScaleFormat.BF16, true)]
    [InlineData(5, 77, 5, 16, false, (int)ScaleFormat.F32, false)]
    [InlineData(5, 77, 8, 48, false, (int)ScaleFormat.F16, true)]
    [InlineData(19, 200, 4, 13, false, (int)ScaleFormat.F16, false)]
    [InlineData(19, 200, 7, 128, true, (int)ScaleFormat.F32, false)]
    [InlineData(70, 64, 6, 64, false, (int)ScaleFormat.BF16, true)]
    public void Group_scalar(int rows, int columns, int bits, int groupSize, bool symmetric, int format, bool permuted)
    {
        PackedGroupScalar w = PackedTestData.GroupScalar(rows, columns, bits, groupSize, symmetric, (ScaleFormat)format, permuted, seed: bits);
        float[] expected = PackedReference.Dequantize(w);
        foreach (bool avx in new[] { true, false })
        {
            var actual = new float[expected.Length];
            PackedDequantize.Dequantize(w, actual, avx);
            Assert.Equal(expected, actual);
        }
    }

    [Theory]
    [InlineData(37, 131, 1, 3, 2, 32, (int)CodebookFormat.Int8Scaled)]
    [InlineData(37, 130, 2, 5, 4, 34, (int)CodebookFormat.F16)]
    [InlineData(70, 76, 4, 3, 3, 16, (int)CodebookFormat.F32)]
    [InlineData(9, 200, 2, 8, 3, 40, (int)CodebookFormat.Int8Scaled)]
    [InlineData(9, 204, 4, 3, 2, 48, (int)CodebookFormat.F16)]
    [InlineData(64, 100, 2, 4, 2, 32, (int)CodebookFormat.Int8Scaled)]
    public void Vector_codes(int rows, int columns, int dimension, int bits, int groupRows, int groupColumns, int format)
    {
        PackedVectorCodes w = PackedTestData.VectorCodes(rows, columns, dimension, bits, groupRows, groupColumns, (CodebookFormat)format, seed: bits);
        float[] expected = PackedReference.Dequantize(w);
        foreach (bool avx in new[] { true, false })
        {
            var actual = new float[expected.Length];
            PackedDequantize.Dequantize(w, actual, avx);
            Assert.Equal(expected, actual);
        }
    }

    [Theory]
    [InlineData((int)GgmlBlockType.Q4_0)]
    [InlineData((int)GgmlBlockType.Q4_1)]
    [InlineData((int)GgmlBlockType.Q5_0)]
    [InlineData((int)GgmlBlockType.Q5_1)]
    [InlineData((int)GgmlBlockType.Q8_0)]
    public void Ggml_blocks(int type)
    {
        PackedGgmlBlocks w = PackedTestData.GgmlBlocks((GgmlBlockType)type, 70, 160, seed: type);
        float[] expected = PackedReference.Dequantize(w);
        foreach (bool avx in new[] { true, false })
        {
            var actual = new float[expected.Length];
            PackedDequantize.Dequantize(w, actual, avx);
            Assert.Equal(expected, actual);
        }
    }

    [Fact]
    public void Reference_dequantization_reads_codes_scales_zeros_and_permutation()
    {
        // [2, 3] 2-bit, groups of 2, F32 scales: codes row-major in storage order.
        int[] codes = [0, 1, 2, 3, 2, 1];
        float[] scales = [0.5f, 2f, 1f, 4f];
        float[] zeros = [1f, 0.5f, 2f, 1f];
        var scaleBytes = new byte[16];
        var zeroBytes = new byte[16];
        Buffer.BlockCopy(scales, 0, scaleBytes, 0, 16);
        Buffer.BlockCopy(zeros, 0, zeroBytes, 0, 16);
        var w = PackedGroupScalar.FromDense(2, 3, 2, 2, false, ScaleFormat.F32, RwkvQuant.Packing.BitPacking.Pack(codes, 2),
            scaleBytes, zeroBytes, [2, 0, 1]);
        float[] weights = PackedReference.Dequantize(w);
        // Row 0 storage k=0 → column 2: 0.5·(0−1); k=1 → column 0: 0.5·(1−1); k=2 → column 1: 2·(2−0.5).
        // Row 1: k=0 → column 2: 1·(3−2); k=1 → column 0: 1·(2−2); k=2 → column 1: 4·(1−1).
        Assert.Equal([0f, 3f, -0.5f, 0f, 0f, 1f], weights);
    }
}
