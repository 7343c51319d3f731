using RwkvQuant.Kernels.MatVec;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Tests.Kernels.MatVec;

public class KQuantMatVecTests
{
    public static TheoryData<KQuantType, int, int> Cases()
    {
        var data = new TheoryData<KQuantType, int, int>();
        foreach (KQuantType type in Enum.GetValues<KQuantType>())
        {
            int block = type.ValuesPerBlock();
            data.Add(type, 37, 3 * block);
            data.Add(type, 5, block);
            data.Add(type, 70, 2 * block);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Fast_paths_equal_the_reference(KQuantType type, int rows, int columns)
    {
        PackedKQuantBlocks w = PackedTestData.KQuantBlocks(type, rows, columns, seed: (int)type * 100 + rows);
        float[] weights = PackedReference.Dequantize(w);
        foreach (int vectors in new[] { 1, 4, 8, 10 })
        {
            float[] x = PackedTestData.Vectors(vectors, columns, seed: vectors);
            var expected = new float[vectors * rows];
            PackedReference.MatVec(w, x, expected, vectors);
            float[] scale = PackedTestData.AbsoluteProducts(weights, rows, columns, x, vectors);
            // dl·Σq·x − ml·X_s: the rounding scales with Σ|w||x| plus the minimums' terms (|ml| < 0.05·63) times Σ|x|.
            float[] bound = PackedTestData.CodeSumBound(scale, rows, columns, x, 4);
            // Every tier this machine runs (AVX2 and AVX-512 machines run the AVX2 path, then 128-bit and the scalar decode).
            foreach (SimdTier tier in SimdTiers.Supported.Where(KQuantMatVec.Supports))
            {
                var actual = new float[vectors * rows];
                KQuantMatVec.MatVec(w, x, actual, vectors, tier);
                PackedTestData.AssertClose(expected, actual, bound, 1e-5, $"{type} {SimdTiers.Describe(tier)} n{vectors}");
            }
        }
    }

    [Fact]
    public void The_widest_tier_with_a_path_is_chosen_and_others_are_refused()
    {
        Assert.Equal(SimdTiers.Supported.Where(KQuantMatVec.Supports).Max(), KQuantMatVec.Tier);
        Assert.False(KQuantMatVec.Supports(SimdTier.Avx512)); // no 512-bit path: AVX-512 machines run the AVX2 one
        PackedKQuantBlocks w = PackedTestData.KQuantBlocks(KQuantType.Q4_K, 2, 256, seed: 1);
        foreach (SimdTier tier in Enum.GetValues<SimdTier>().Where(t => !KQuantMatVec.Supports(t)))
            Assert.Throws<PlatformNotSupportedException>(() => KQuantMatVec.MatVec(w, new float[256], new float[2], 1, tier));
    }
}
