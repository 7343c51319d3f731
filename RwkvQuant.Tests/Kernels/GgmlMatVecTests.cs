using RwkvQuant.Kernels.MatVec;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Tests.Kernels;

public class GgmlMatVecTests
{
    public static TheoryData<int, int, int> Cases()
    {
        var data = new TheoryData<int, int, int>();
        foreach (GgmlBlockType type in Enum.GetValues<GgmlBlockType>())
        {
            data.Add((int)type, 37, 160);
            data.Add((int)type, 5, 32);
            data.Add((int)type, 70, 96);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Fast_paths_equal_the_reference(int type, int rows, int columns)
    {
        PackedGgmlBlocks w = PackedTestData.GgmlBlocks((GgmlBlockType)type, rows, columns, seed: type * 100 + rows);
        float[] weights = PackedReference.Dequantize(w);
        foreach (int vectors in new[] { 1, 4, 8, 10 })
        {
            float[] x = PackedTestData.Vectors(vectors, columns, seed: vectors);
            var expected = new float[vectors * rows];
            PackedReference.MatVec(w, x, expected, vectors);
            float[] scale = PackedTestData.AbsoluteProducts(weights, rows, columns, x, vectors);
            // d·Σq·x + c·X_b: the rounding scales with |d|·2^5·Σ|x| at most; bound it by Σ|w||x| plus Σ|x|.
            float[] bound = PackedTestData.CodeSumBound(scale, rows, columns, x, 5);
            foreach (bool avx in new[] { true, false })
            {
                var actual = new float[vectors * rows];
                GgmlMatVec.MatVec(w, x, actual, vectors, avx);
                PackedTestData.AssertClose(expected, actual, bound, 1e-5, $"{(GgmlBlockType)type} {(avx ? "AVX-512" : "portable")} n{vectors}");
            }
        }
    }
}
