using RwkvQuant.Kernels.MatVec;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Tests.Kernels.MatVec;

public class BitPlaneMatVecTests
{
    public static TheoryData<int, int, int, int, bool, int, bool> Cases()
    {
        var data = new TheoryData<int, int, int, int, bool, int, bool>();
        for (int bits = 2; bits <= 8; bits++)
        {
            data.Add(37, 131, bits, 64, false, (int)ScaleFormat.F16, false);
            data.Add(5, 77, bits, 32, true, (int)ScaleFormat.BF16, false);
            data.Add(19, 200, bits, 24, false, (int)ScaleFormat.F32, true);
        }
        data.Add(37, 131, 3, 64, true, (int)ScaleFormat.F32, true);
        data.Add(3, 1000, 3, 128, false, (int)ScaleFormat.BF16, false);
        data.Add(1, 64, 4, 64, false, (int)ScaleFormat.F16, false);
        data.Add(70, 16, 3, 16, false, (int)ScaleFormat.F16, true);
        data.Add(13, 45, 2, 8, false, (int)ScaleFormat.F16, false); // one column block per group, the last one partial
        data.Add(48, 256, 3, 64, false, (int)ScaleFormat.F16, false); // whole row and column blocks
        data.Add(601, 520, 3, 64, false, (int)ScaleFormat.F16, true); // 312,520 weights: row blocks split across threads
        data.Add(1001, 512, 4, 128, true, (int)ScaleFormat.BF16, false);
        return data;
    }

    [TierTheory(SimdTier.Avx512)]
    [MemberData(nameof(Cases))]
    public void Avx512_tier_equals_the_reference(int rows, int columns, int bits, int groupSize, bool symmetric, int format, bool permuted) =>
        AssertEqualsReference(SimdTier.Avx512, rows, columns, bits, groupSize, symmetric, format, permuted);

    [TierTheory(SimdTier.Avx2)]
    [MemberData(nameof(Cases))]
    public void Avx2_tier_equals_the_reference(int rows, int columns, int bits, int groupSize, bool symmetric, int format, bool permuted) =>
        AssertEqualsReference(SimdTier.Avx2, rows, columns, bits, groupSize, symmetric, format, permuted);

    [TierTheory(SimdTier.Vector128)]
    [MemberData(nameof(Cases))]
    public void Vector128_tier_equals_the_reference(int rows, int columns, int bits, int groupSize, bool symmetric, int format, bool permuted) =>
        AssertEqualsReference(SimdTier.Vector128, rows, columns, bits, groupSize, symmetric, format, permuted);

    [Fact]
    public void The_default_tier_is_the_widest_the_machine_runs_and_tiers_without_a_path_are_refused()
    {
        SimdTier expected = SimdTiers.IsSupported(SimdTier.Avx512) ? SimdTier.Avx512
            : SimdTiers.IsSupported(SimdTier.Avx2) ? SimdTier.Avx2
            : SimdTiers.IsSupported(SimdTier.Vector128) ? SimdTier.Vector128 : SimdTier.Scalar;
        Assert.Equal(expected, BitPlaneMatVec.Tier);
        Assert.False(BitPlaneMatVec.Supports(SimdTier.Scalar));
        PackedBitPlanes w = PackedBitPlanes.From(PackedTestData.GroupScalar(3, 16, 3, 8, false, ScaleFormat.F16, false, seed: 1));
        Assert.Throws<PlatformNotSupportedException>(() => BitPlaneMatVec.MatVec(w, new float[16], new float[3], 1, SimdTier.Scalar));
    }

    [Theory]
    [InlineData(37, 72, 3, 8)]
    [InlineData(5, 24, 2, 24)]
    public void Relaying_on_several_threads_gives_the_same_planes(int rows, int columns, int bits, int groupSize)
    {
        PackedGroupScalar source = PackedTestData.GroupScalar(rows, columns, bits, groupSize, false, ScaleFormat.F16, false, seed: rows);
        PackedBitPlanes one = PackedBitPlanes.From(source), three = PackedBitPlanes.From(source, threads: 3);
        Assert.Equal(one.Planes, three.Planes);
        Assert.Equal(one.GroupParameters, three.GroupParameters);
        Assert.Throws<ArgumentOutOfRangeException>(() => PackedBitPlanes.From(source, threads: 0));
    }

    private static void AssertEqualsReference(SimdTier tier, int rows, int columns, int bits, int groupSize, bool symmetric, int format, bool permuted)
    {
        PackedGroupScalar source = PackedTestData.GroupScalar(rows, columns, bits, groupSize, symmetric, (ScaleFormat)format, permuted, seed: rows * 1000 + bits);
        PackedBitPlanes w = PackedBitPlanes.From(source);
        float[] weights = PackedReference.Dequantize(source);
        foreach (int vectors in new[] { 1, 3, 8, 11 })
        {
            float[] x = PackedTestData.Vectors(vectors, columns, seed: vectors);
            var expected = new float[vectors * rows];
            PackedReference.MatVec(source, x, expected, vectors);
            float[] scale = PackedTestData.AbsoluteProducts(weights, rows, columns, x, vectors);
            float[] bound = PackedTestData.CodeSumBound(scale, rows, columns, x, (float)(1 << bits));
            var actual = new float[vectors * rows];
            BitPlaneMatVec.MatVec(w, x, actual, vectors, tier);
            PackedTestData.AssertClose(expected, actual, bound, 1e-5, $"bit planes {tier} b{bits} g{groupSize} n{vectors}");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Rows_decode_from_the_planes_exactly_as_from_the_source_layout(int rows, int columns, int bits, int groupSize, bool symmetric, int format, bool permuted)
    {
        // The engine keeps only the planes (no copy of the source codes), so its embedding lookups decode from them.
        PackedGroupScalar source = PackedTestData.GroupScalar(rows, columns, bits, groupSize, symmetric, (ScaleFormat)format, permuted, seed: rows * 7 + bits);
        PackedBitPlanes w = PackedBitPlanes.From(source);
        var expected = new float[columns];
        var actual = new float[columns];
        for (int row = 0; row < rows; row++)
        {
            PackedReference.DecodeRow(source, row, expected);
            PackedReference.DecodeRow(w, row, actual);
            Assert.Equal(expected, actual); // bit for bit, every column in its original place
            for (int g = 0; g < source.GroupsPerRow; g++)
            {
                Assert.Equal(source.Scale(row, g), w.Scale(row, g));
                Assert.Equal(source.Zero(row, g), w.Zero(row, g));
            }
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => PackedReference.DecodeRow(w, rows, actual));
        Assert.Throws<ArgumentException>(() => PackedReference.DecodeRow(w, 0, new float[columns + 1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => w.Scale(0, source.GroupsPerRow));
    }

    [Theory]
    [InlineData(37, 131, 3, 64, false)]
    [InlineData(16, 8, 8, 8, true)]
    [InlineData(17, 203, 5, 40, false)]
    public void Planes_hold_every_code_and_parameter(int rows, int columns, int bits, int groupSize, bool symmetric)
    {
        PackedGroupScalar source = PackedTestData.GroupScalar(rows, columns, bits, groupSize, symmetric, ScaleFormat.F16, false, seed: 7);
        PackedBitPlanes w = PackedBitPlanes.From(source);
        var codes = new float[columns];
        for (int row = 0; row < rows; row++)
        {
            RowAlignedCodes.DecodeRow(source.Codes.AsSpan(row * source.RowBytes, source.RowBytes), bits, codes);
            for (int column = 0; column < columns; column++)
                Assert.Equal((int)codes[column], w.Code(row, column));
        }
        // Padding rows and columns are code 0: every plane byte past the last row is 0.
        int lastRows = rows % PackedBitPlanes.RowBlock;
        if (lastRows != 0)
        {
            long lastBlock = (long)(w.RowBlocks - 1) * w.ColumnBlocks * bits * PackedBitPlanes.RowBlock;
            for (long i = lastBlock; i < w.Planes.LongLength; i++)
                if ((i % PackedBitPlanes.RowBlock) >= lastRows)
                    Assert.Equal(0, w.Planes[i]);
        }
        int groups = source.GroupsPerRow, blockWords = w.BlockParameterWords;
        for (int row = 0; row < rows; row++)
        {
            for (int g = 0; g < groups; g++)
            {
                int at = ((row / 16) * groups + g) * blockWords + row % 16;
                Assert.Equal(source.Scale(row, g), (float)BitConverter.UInt16BitsToHalf(w.GroupParameters[at]));
                if (!symmetric)
                    Assert.Equal(source.Zero(row, g), (float)BitConverter.UInt16BitsToHalf(w.GroupParameters[at + 16]));
            }
        }
    }

    [Fact]
    public void Group_sizes_that_split_a_column_block_are_refused()
    {
        PackedGroupScalar source = PackedTestData.GroupScalar(4, 40, 3, 20, false, ScaleFormat.F16, false, seed: 1);
        Assert.Throws<ArgumentException>(() => PackedBitPlanes.From(source));
        Assert.False(BitPlaneMatVec.Runs(20));
        Assert.Equal(BitPlaneMatVec.IsSupported, BitPlaneMatVec.Runs(64));
    }

    [TierFact(SimdTier.Avx512)]
    public void Avx512_tables_hold_the_subset_sums_of_four_columns()
    {
        var tables = new float[32];
        unsafe
        {
            fixed (float* xp = TableInput)
            fixed (float* tp = tables)
                BitPlaneMatVec.BuildTables512(xp, 2, tp);
        }
        for (int quad = 0; quad < 2; quad++)
            for (int m = 0; m < 16; m++)
                Assert.Equal(SubsetSum(4 * quad, 4, m), tables[quad * 16 + m]);
    }

    [TierFact(SimdTier.Avx2)]
    public void Avx2_tables_hold_the_subset_sums_of_three_three_and_two_columns()
    {
        var tables = new float[24];
        unsafe
        {
            fixed (float* xp = TableInput)
            fixed (float* tp = tables)
                BitPlaneMatVec.BuildTablesAvx2(xp, 1, tp);
        }
        for (int m = 0; m < 8; m++)
        {
            Assert.Equal(SubsetSum(0, 3, m), tables[m]);
            Assert.Equal(SubsetSum(3, 3, m), tables[8 + m]);
            Assert.Equal(SubsetSum(6, 2, m), tables[16 + m]); // entries 4–7 repeat 0–3
        }
    }

    [TierFact(SimdTier.Vector128)]
    public void Vector128_tables_hold_the_subset_sums_of_column_pairs()
    {
        var tables = new float[16];
        unsafe
        {
            fixed (float* xp = TableInput)
            fixed (float* tp = tables)
                BitPlaneMatVec.BuildTables128(xp, 1, tp);
        }
        for (int t = 0; t < 4; t++)
            for (int m = 0; m < 4; m++)
                Assert.Equal(SubsetSum(2 * t, 2, m), tables[4 * t + m]);
    }

    private static readonly float[] TableInput = [1.5f, -2f, 0.25f, 8f, 3f, 0f, -1f, 0.5f];

    /// <summary>The sum of TableInput[first + i] over the bits i &lt; <paramref name="width"/> set in <paramref name="m"/>, in order of i.</summary>
    private static float SubsetSum(int first, int width, int m)
    {
        float sum = 0;
        for (int i = 0; i < width; i++)
            if ((m >> i & 1) != 0)
                sum += TableInput[first + i];
        return sum;
    }
}
