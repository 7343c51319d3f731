using RwkvQuant.Kernels.MatVec;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Tests.Kernels.MatVec;

public class NibbleTableMatVecTests
{
    public static TheoryData<int, int, int, int, bool, int, bool> Cases() => BitPlaneMatVecTests.Cases();

    [TierTheory(SimdTier.Avx2)]
    [MemberData(nameof(Cases))]
    public void The_avx2_tier_equals_the_scalar_twin(int rows, int columns, int bits, int groupSize, bool symmetric, int format, bool permuted) =>
        AssertEqualsTwin(SimdTier.Avx2, rows, columns, bits, groupSize, symmetric, format, permuted);

    [TierTheory(SimdTier.Vector128)]
    [MemberData(nameof(Cases))]
    public void The_128_bit_tier_equals_the_scalar_twin(int rows, int columns, int bits, int groupSize, bool symmetric, int format, bool permuted) =>
        AssertEqualsTwin(SimdTier.Vector128, rows, columns, bits, groupSize, symmetric, format, permuted);

    [Fact]
    public void The_widest_tier_is_chosen_and_tiers_without_a_path_are_refused()
    {
        Assert.Equal(SimdTiers.Supported.Where(NibbleTableMatVec.Supports).DefaultIfEmpty(SimdTier.Scalar).Max(), NibbleTableMatVec.Tier);
        Assert.False(NibbleTableMatVec.Supports(SimdTier.Avx512));
        Assert.False(NibbleTableMatVec.Supports(SimdTier.Scalar));
        PackedBitPlanes w = PackedBitPlanes.From(PackedTestData.GroupScalar(3, 16, 3, 8, false, ScaleFormat.F16, false, seed: 1));
        Assert.Throws<PlatformNotSupportedException>(() => NibbleTableMatVec.MatVec(w, new float[16], new float[3], 1, SimdTier.Avx512));
    }

    private static void AssertEqualsTwin(SimdTier tier, int rows, int columns, int bits, int groupSize, bool symmetric, int format, bool permuted)
    {
        PackedGroupScalar source = PackedTestData.GroupScalar(rows, columns, bits, groupSize, symmetric, (ScaleFormat)format, permuted, seed: rows * 1000 + bits);
        PackedBitPlanes w = PackedBitPlanes.From(source);
        float[] weights = PackedReference.Dequantize(source);
        foreach (int vectors in new[] { 1, 3, 8, 11 })
        {
            float[] x = PackedTestData.Vectors(vectors, columns, seed: vectors);
            var twin = new float[vectors * rows];
            NibbleTableMatVec.Reference(w, x, twin, vectors);
            var actual = new float[vectors * rows];
            NibbleTableMatVec.MatVec(w, x, actual, vectors, tier);
            float[] bound = PackedTestData.CodeSumBound(PackedTestData.AbsoluteProducts(weights, rows, columns, x, vectors), rows, columns, x, (float)(1 << bits));
            PackedTestData.AssertClose(twin, actual, bound, 1e-5, $"8-bit tables {tier} b{bits} g{groupSize} n{vectors}");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_twin_is_within_the_table_rounding_bound_of_the_exact_product(int rows, int columns, int bits, int groupSize, bool symmetric, int format, bool permuted)
    {
        PackedGroupScalar source = PackedTestData.GroupScalar(rows, columns, bits, groupSize, symmetric, (ScaleFormat)format, permuted, seed: rows * 1000 + bits);
        PackedBitPlanes w = PackedBitPlanes.From(source);
        float[] weights = PackedReference.Dequantize(source);
        const int vectors = 3;
        float[] x = PackedTestData.Vectors(vectors, columns, seed: 5);
        var expected = new float[vectors * rows];
        PackedReference.MatVec(source, x, expected, vectors);
        var twin = new float[vectors * rows];
        NibbleTableMatVec.Reference(w, x, twin, vectors);
        float[] floatBound = PackedTestData.CodeSumBound(PackedTestData.AbsoluteProducts(weights, rows, columns, x, vectors), rows, columns, x, (float)(1 << bits));
        int groups = source.GroupsPerRow, blocksPerGroup = groupSize / PackedBitPlanes.ColumnBlock;
        for (int n = 0; n < vectors; n++)
        {
            float[] steps = Steps(w, x.AsSpan(n * columns, columns));
            for (int r = 0; r < rows; r++)
            {
                // Each lookup is off by at most half a step: per group (2^b − 1)·(2 lookups · blocks)·t_g/2, times |s|.
                double allowed = 1e-5 * (floatBound[n * rows + r] + 1e-3);
                for (int g = 0; g < groups; g++)
                {
                    int blocks = Math.Min(w.ColumnBlocks, (g + 1) * blocksPerGroup) - g * blocksPerGroup;
                    allowed += Math.Abs(source.Scale(r, g)) * ((1 << bits) - 1) * blocks * steps[g];
                }
                double error = Math.Abs(twin[n * rows + r] - expected[n * rows + r]);
                Assert.True(error <= allowed, $"b{bits} g{groupSize} vector {n} row {r}: {twin[n * rows + r]} vs {expected[n * rows + r]} (allowed {allowed})");
            }
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)] // the scalar builder of machines without AVX2
    public void Tables_round_each_subset_sum_to_the_nearest_step_of_their_group(bool useAvx2)
    {
        var random = new Random(3);
        float[] x = Enumerable.Range(0, 40).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray(); // 5 column blocks
        const int blocksPerGroup = 2;
        var tables = new sbyte[5 * 32];
        var steps = new float[3];
        NibbleTableMatVec.BuildTables(x, blocksPerGroup, tables, steps, useAvx2);
        for (int quad = 0; quad < 10; quad++)
        {
            int g = quad / 2 / blocksPerGroup;
            for (int m = 0; m < 16; m++)
            {
                float exact = 0;
                for (int i = 0; i < 4; i++)
                    if ((m >> i & 1) != 0)
                        exact += x[4 * quad + i];
                Assert.InRange(Math.Abs(tables[16 * quad + m] * steps[g] - exact), 0, steps[g] / 2 * 1.0001 + 1e-6);
            }
        }
        // The largest entry of each group is ±127 steps.
        for (int g = 0; g < 3; g++)
        {
            int first = 32 * blocksPerGroup * g, end = Math.Min(tables.Length, first + 32 * blocksPerGroup);
            Assert.Equal(127, tables[first..end].Max(t => Math.Abs((int)t)));
        }
    }

    private static float[] Steps(PackedBitPlanes w, ReadOnlySpan<float> x)
    {
        int padded = w.ColumnBlocks * PackedBitPlanes.ColumnBlock;
        var xs = new float[padded];
        var sums = new float[w.GroupsPerRow];
        StorageOrder.Prepare(x, w.Permutation, xs, w.GroupSize, sums);
        var steps = new float[w.GroupsPerRow];
        NibbleTableMatVec.BuildTables(xs, w.GroupSize / PackedBitPlanes.ColumnBlock, new sbyte[w.ColumnBlocks * 32], steps);
        return steps;
    }
}
