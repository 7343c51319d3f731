using RwkvQuant.Kernels.MatVec;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Tests.Kernels.MatVec;

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
            // Every tier this machine runs (a machine without AVX-512 runs AVX2, 128-bit and the scalar decode).
            foreach (SimdTier tier in SimdTiers.Supported.Where(GgmlMatVec.Supports))
            {
                var actual = new float[vectors * rows];
                GgmlMatVec.MatVec(w, x, actual, vectors, tier);
                PackedTestData.AssertClose(expected, actual, bound, 1e-5, $"{(GgmlBlockType)type} {SimdTiers.Describe(tier)} n{vectors}");
            }
        }
    }

    [TierFact(SimdTier.Avx512)]
    public void The_avx512_tier_runs_where_the_machine_has_it() => Assert.Equal(SimdTier.Avx512, GgmlMatVec.Tier);

    [Fact]
    public void The_widest_tier_is_chosen_and_tiers_without_a_path_are_refused()
    {
        Assert.Equal(SimdTiers.Supported.Where(GgmlMatVec.Supports).Max(), GgmlMatVec.Tier);
        foreach (SimdTier tier in Enum.GetValues<SimdTier>())
            Assert.Equal(SimdTiers.IsSupported(tier), GgmlMatVec.Supports(tier)); // every tier has a path
        PackedGgmlBlocks w = PackedTestData.GgmlBlocks(GgmlBlockType.Q4_0, 2, 32, seed: 1);
        foreach (SimdTier tier in Enum.GetValues<SimdTier>().Where(t => !SimdTiers.IsSupported(t)))
            Assert.Throws<PlatformNotSupportedException>(() => GgmlMatVec.MatVec(w, new float[32], new float[2], 1, tier));
    }
}
