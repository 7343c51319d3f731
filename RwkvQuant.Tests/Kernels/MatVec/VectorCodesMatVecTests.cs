using RwkvQuant.Kernels.MatVec;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Tests.Kernels.MatVec;

public class VectorCodesMatVecTests
{
    public static TheoryData<int, int, int, int, int, int, int> Cases() => new()
    {
        // rows, columns, d, bits, group rows, group columns, codebook format
        { 37, 131, 1, 3, 2, 32, (int)CodebookFormat.Int8Scaled },
        { 37, 130, 2, 3, 4, 32, (int)CodebookFormat.F16 },
        { 37, 132, 4, 2, 3, 16, (int)CodebookFormat.F32 },
        { 5, 77, 1, 4, 2, 48, (int)CodebookFormat.Int8Scaled },
        { 5, 76, 4, 3, 1, 32, (int)CodebookFormat.Int8Scaled },
        { 9, 200, 1, 5, 5, 64, (int)CodebookFormat.F16 },
        { 9, 200, 2, 4, 5, 64, (int)CodebookFormat.F32 },
        { 9, 200, 2, 8, 3, 40, (int)CodebookFormat.Int8Scaled },
        { 9, 204, 4, 6, 2, 12, (int)CodebookFormat.F16 },
        { 6, 99, 1, 12, 6, 99, (int)CodebookFormat.F32 },
        { 64, 256, 1, 3, 2, 32, (int)CodebookFormat.Int8Scaled },
        // 1-D codebooks in groups a multiple of 8 (not 16) wide: the AVX2 lookup's 8-column segments, 1 to 4 bits.
        { 11, 45, 1, 1, 3, 8, (int)CodebookFormat.F16 },
        { 7, 83, 1, 2, 1, 24, (int)CodebookFormat.Int8Scaled },
        { 13, 70, 1, 4, 4, 40, (int)CodebookFormat.F32 },
        { 3, 9, 1, 3, 1, 8, (int)CodebookFormat.F16 },
        // 1-D codebooks in groups a multiple of 16 wide: the 128-bit lookup's 16-column segments, 1, 2 and 4 bits.
        { 7, 50, 1, 1, 3, 16, (int)CodebookFormat.F16 },
        { 9, 95, 1, 2, 2, 48, (int)CodebookFormat.F32 },
        { 3, 17, 1, 4, 1, 16, (int)CodebookFormat.Int8Scaled },
        // Codebooks read from the decoded table: 2-D in groups a multiple of 16 wide (the allocation's d2 b5/b6 over 16–32 × 256
        // weights, with a partial last column group and row group; AVX2 and 128-bit), 1-D with 32 to 256 entries (AVX2 gather).
        { 19, 262, 2, 5, 16, 256, (int)CodebookFormat.Int8Scaled },
        { 35, 512, 2, 6, 32, 256, (int)CodebookFormat.Int8Scaled },
        { 7, 90, 2, 6, 3, 32, (int)CodebookFormat.F16 },
        { 5, 50, 2, 8, 2, 16, (int)CodebookFormat.F32 },
        { 3, 18, 2, 1, 1, 16, (int)CodebookFormat.F16 },
        { 9, 123, 1, 6, 4, 24, (int)CodebookFormat.F16 },
        { 4, 41, 1, 8, 1, 8, (int)CodebookFormat.Int8Scaled },
    };

    /// <summary>The cases whose layout the lookup of tier <paramref name="tier"/> (a <see cref="SimdTier"/>) takes.</summary>
    public static TheoryData<int, int, int, int, int, int, int> CasesFor(int tier)
    {
        var data = new TheoryData<int, int, int, int, int, int, int>();
        foreach (object[] row in Cases())
        {
            if (VectorCodesMatVec.Takes((SimdTier)tier, (int)row[2], (int)row[3], (int)row[5]))
                data.Add((int)row[0], (int)row[1], (int)row[2], (int)row[3], (int)row[4], (int)row[5], (int)row[6]);
        }
        return data;
    }

    [TierTheory(SimdTier.Avx512)]
    [MemberData(nameof(CasesFor), (int)SimdTier.Avx512)]
    public void The_avx512_lookup_equals_the_reference(int rows, int columns, int dimension, int bits, int groupRows, int groupColumns, int format) =>
        AssertTierMatches(SimdTier.Avx512, rows, columns, dimension, bits, groupRows, groupColumns, format);

    [TierTheory(SimdTier.Avx2)]
    [MemberData(nameof(CasesFor), (int)SimdTier.Avx2)]
    public void The_avx2_lookup_equals_the_reference(int rows, int columns, int dimension, int bits, int groupRows, int groupColumns, int format) =>
        AssertTierMatches(SimdTier.Avx2, rows, columns, dimension, bits, groupRows, groupColumns, format);

    [TierTheory(SimdTier.Vector128)]
    [MemberData(nameof(CasesFor), (int)SimdTier.Vector128)]
    public void The_128_bit_lookup_equals_the_reference(int rows, int columns, int dimension, int bits, int groupRows, int groupColumns, int format) =>
        AssertTierMatches(SimdTier.Vector128, rows, columns, dimension, bits, groupRows, groupColumns, format);

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_scalar_lookup_equals_the_reference(int rows, int columns, int dimension, int bits, int groupRows, int groupColumns, int format) =>
        AssertTierMatches(SimdTier.Scalar, rows, columns, dimension, bits, groupRows, groupColumns, format);

    [Fact]
    public void Each_layout_runs_on_the_widest_tier_that_takes_it_and_a_tier_that_does_not_is_refused()
    {
        Assert.True(VectorCodesMatVec.Takes(SimdTier.Avx2, 1, 3, 64));   // the quantizers' default: d = 1, b = 3
        Assert.True(VectorCodesMatVec.Takes(SimdTier.Avx2, 1, 5, 64));   // 32 entries: gathered from the table
        Assert.True(VectorCodesMatVec.Takes(SimdTier.Avx2, 2, 6, 256));  // the allocation's 2-D codebooks: loaded pair by pair
        Assert.False(VectorCodesMatVec.Takes(SimdTier.Avx2, 2, 6, 40));  // 2-D segments are 16 columns
        Assert.False(VectorCodesMatVec.Takes(SimdTier.Avx2, 1, 9, 64));  // 4 codes must fit a 32-bit window
        Assert.False(VectorCodesMatVec.Takes(SimdTier.Avx2, 1, 3, 12));
        Assert.False(VectorCodesMatVec.Takes(SimdTier.Avx512, 1, 3, 24));
        Assert.True(VectorCodesMatVec.Takes(SimdTier.Vector128, 1, 4, 32));
        Assert.False(VectorCodesMatVec.Takes(SimdTier.Vector128, 1, 3, 24)); // 16-column segments
        Assert.True(VectorCodesMatVec.Takes(SimdTier.Vector128, 2, 6, 256)); // 2-D: one 64-bit pair load per code
        Assert.False(VectorCodesMatVec.Takes(SimdTier.Vector128, 4, 2, 64));
        SimdTier expected = SimdTiers.IsSupported(SimdTier.Avx512) ? SimdTier.Avx512 : SimdTiers.IsSupported(SimdTier.Avx2) ? SimdTier.Avx2
            : SimdTiers.IsSupported(SimdTier.Vector128) ? SimdTier.Vector128 : SimdTier.Scalar;
        Assert.Equal(expected, VectorCodesMatVec.TierFor(1, 3, 64));
        Assert.Equal(SimdTiers.IsSupported(SimdTier.Avx2) ? SimdTier.Avx2 : SimdTier.Scalar, VectorCodesMatVec.TierFor(1, 3, 24));
        Assert.Equal(SimdTier.Scalar, VectorCodesMatVec.TierFor(1, 12, 99));
        PackedVectorCodes w = PackedTestData.VectorCodes(5, 76, 4, 3, 1, 32, CodebookFormat.F32, seed: 1);
        // d = 4 is not the AVX2 lookup's; a machine without AVX2 refuses the tier itself first.
        if (SimdTiers.IsSupported(SimdTier.Avx2))
            Assert.Throws<ArgumentException>(() => VectorCodesMatVec.MatVec(w, new float[76], new float[5], 1, SimdTier.Avx2));
        else
            Assert.Throws<PlatformNotSupportedException>(() => VectorCodesMatVec.MatVec(w, new float[76], new float[5], 1, SimdTier.Avx2));
    }

    private static void AssertTierMatches(SimdTier tier, int rows, int columns, int dimension, int bits, int groupRows, int groupColumns, int format)
    {
        PackedVectorCodes w = PackedTestData.VectorCodes(rows, columns, dimension, bits, groupRows, groupColumns, (CodebookFormat)format, seed: rows + bits);
        float[] weights = PackedReference.Dequantize(w);
        foreach (int vectors in new[] { 1, 2, 8, 9 })
        {
            float[] x = PackedTestData.Vectors(vectors, columns, seed: vectors);
            var expected = new float[vectors * rows];
            PackedReference.MatVec(w, x, expected, vectors);
            float[] scale = PackedTestData.AbsoluteProducts(weights, rows, columns, x, vectors);
            var actual = new float[vectors * rows];
            VectorCodesMatVec.MatVec(w, x, actual, vectors, tier);
            PackedTestData.AssertClose(expected, actual, scale, 1e-5, $"{SimdTiers.Describe(tier)} d{dimension} b{bits} n{vectors}");
        }
    }

    [Fact]
    public void Reference_dequantization_looks_codes_up_in_their_groups_codebook()
    {
        // [2, 4], d = 2, 1-bit codes, groups of 1 row × 4 columns: two codebooks of 2 centroids × 2 values.
        int[] codes = [1, 0, 0, 1];
        float[] codebooks = [1, 2, 3, 4, /* group 1 */ 5, 6, 7, 8];
        var w = PackedVectorCodes.FromSingle(2, 4, 2, 1, 1, 4, RwkvQuant.Packing.BitPacking.Pack(codes, 1), codebooks);
        Assert.Equal([3f, 4, 1, 2, 5, 6, 7, 8], PackedReference.Dequantize(w));
    }
}
