using RwkvQuant.Kernels.MatVec;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Tests.Kernels;

public class GroupScalarMatVecTests
{
    public static TheoryData<int, int, int, int, bool, int, bool> Cases()
    {
        var data = new TheoryData<int, int, int, int, bool, int, bool>();
        for (int bits = 2; bits <= 8; bits++)
        {
            data.Add(37, 131, bits, 64, false, (int)ScaleFormat.F16, false);
            data.Add(5, 77, bits, 32, true, (int)ScaleFormat.BF16, false);
            data.Add(19, 200, bits, 13, false, (int)ScaleFormat.F32, true);
        }
        data.Add(37, 131, 3, 64, true, (int)ScaleFormat.F32, true);
        data.Add(3, 1000, 3, 128, false, (int)ScaleFormat.BF16, false);
        data.Add(1, 64, 4, 64, false, (int)ScaleFormat.F16, false);
        data.Add(70, 16, 3, 16, false, (int)ScaleFormat.F16, true);
        data.Add(601, 520, 3, 64, false, (int)ScaleFormat.F16, true); // 312,520 weights: rows split across threads
        // Whole groups of 32k codes: rows taken in pairs (odd row counts leave a single last row).
        for (int bits = 2; bits <= 8; bits++)
            data.Add(9 + bits, 256, bits, bits % 2 == 0 ? 64 : 128, bits % 3 == 0, (int)(bits % 2 == 0 ? ScaleFormat.F16 : ScaleFormat.BF16), bits == 3);
        data.Add(6, 96, 3, 32, false, (int)ScaleFormat.F32, false);
        data.Add(1001, 512, 3, 64, false, (int)ScaleFormat.F16, true); // pairs in parallel chunks
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Fast_paths_equal_the_reference(int rows, int columns, int bits, int groupSize, bool symmetric, int format, bool permuted)
    {
        PackedGroupScalar w = PackedTestData.GroupScalar(rows, columns, bits, groupSize, symmetric, (ScaleFormat)format, permuted, seed: rows * 1000 + bits);
        float[] weights = PackedReference.Dequantize(w);
        foreach (int vectors in new[] { 1, 3, 8, 11 })
        {
            float[] x = PackedTestData.Vectors(vectors, columns, seed: vectors);
            var expected = new float[vectors * rows];
            PackedReference.MatVec(w, x, expected, vectors);
            float[] scale = PackedTestData.AbsoluteProducts(weights, rows, columns, x, vectors);
            // The fast path sums s·(Σq·x − z·Σx): its rounding scales with s·2^b·Σ|x|, bounded here by a few Σ|w||x| + Σ|x|.
            float[] bound = PackedTestData.CodeSumBound(scale, rows, columns, x, (float)(1 << bits));
            foreach (bool avx in new[] { true, false })
            {
                var actual = new float[vectors * rows];
                GroupScalarMatVec.MatVec(w, x, actual, vectors, avx);
                PackedTestData.AssertClose(expected, actual, bound, 1e-5, $"{(avx ? "AVX-512" : "portable")} b{bits} g{groupSize} n{vectors}");
            }
        }
    }

    [Fact]
    public void Rows_go_in_pairs_only_for_whole_groups_of_an_even_number_of_segments()
    {
        Assert.True(GroupScalarMatVec.PairsApply(PackedTestData.GroupScalar(4, 256, 3, 64, false, ScaleFormat.F16, false, seed: 1)));
        Assert.False(GroupScalarMatVec.PairsApply(PackedTestData.GroupScalar(4, 264, 3, 64, false, ScaleFormat.F16, false, seed: 1)));
        Assert.False(GroupScalarMatVec.PairsApply(PackedTestData.GroupScalar(4, 240, 3, 48, false, ScaleFormat.F16, false, seed: 1)));
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
