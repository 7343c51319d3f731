using RwkvQuant.Kernels.MatVec;

namespace RwkvQuant.Tests.Kernels.MatVec;

public class HalfMatVecTests
{
    [TierTheory(SimdTier.Avx512)]
    [InlineData(false)]
    [InlineData(true)]
    public void The_avx512_tier_reads_every_weight_exactly_and_equals_the_reference(bool brain) => AssertTier(SimdTier.Avx512, brain);

    [TierTheory(SimdTier.Avx2)]
    [InlineData(false)]
    [InlineData(true)]
    public void The_avx2_tier_reads_every_weight_exactly_and_equals_the_reference(bool brain) => AssertTier(SimdTier.Avx2, brain);

    [TierTheory(SimdTier.Vector128)]
    [InlineData(false)]
    [InlineData(true)]
    public void The_128_bit_tier_reads_every_weight_exactly_and_equals_the_reference(bool brain) => AssertTier(SimdTier.Vector128, brain);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_scalar_reference_reads_every_weight_exactly(bool brain) => AssertTier(SimdTier.Scalar, brain);

    [Fact]
    public void The_widest_tier_runs_and_bad_shapes_and_missing_tiers_are_refused()
    {
        Assert.Equal(SimdTiers.Best, HalfMatVec.Tier);
        ushort[] w = new ushort[6];
        float[] y = new float[2];
        Assert.Throws<ArgumentException>(() => HalfMatVec.Rows(w, new float[4], y, 0, 1, false)); // 6 values are not rows of 4
        Assert.Throws<ArgumentException>(() => HalfMatVec.Rows(w, new float[3], y, 0, 3, false)); // y holds 2
        Assert.Throws<ArgumentException>(() => HalfMatVec.Rows(w, new float[3], y, 1, 0, false));
        foreach (SimdTier tier in Enum.GetValues<SimdTier>().Where(t => !SimdTiers.IsSupported(t)))
            Assert.Throws<PlatformNotSupportedException>(() => HalfMatVec.Rows(w, new float[3], y, 0, 2, false, tier));
    }

    /// <summary>
    /// Exactness: each weight times a unit vector, for zeros, subnormals, the largest half, negatives and random values
    /// (67 weights: two 32-wide steps and a tail, four 16-wide, eight 8-wide); then random rows of odd lengths against the
    /// scalar reference, within float rounding of Σ|w·x|.
    /// </summary>
    private static void AssertTier(SimdTier tier, bool brain)
    {
        var random = new Random(brain ? 41 : 40);
        ushort[] specials = brain
            ? [0x0000, 0x8000, 0x0001, 0x8001, 0x007F, 0x7F7F, 0xFF7F, 0x3F80, 0xC020, 0x3A80]
            : [0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x7BFF, 0xFBFF, 0x3C00, 0xC100, 0x0400];
        ushort[] bits = Enumerable.Range(0, 67).Select(i => i < specials.Length ? specials[i] : RandomWeight(random, brain)).ToArray();
        float[] unit = new float[bits.Length];
        for (int i = 0; i < bits.Length; i++)
        {
            Array.Clear(unit);
            unit[i] = 1;
            float expected = brain ? BitConverter.UInt32BitsToSingle((uint)bits[i] << 16) : (float)BitConverter.UInt16BitsToHalf(bits[i]);
            Assert.Equal(expected, HalfMatVec.Dot(bits, unit, brain, tier));
        }

        foreach (int columns in new[] { 1, 7, 37, 768 + 5, 2049 })
        {
            const int rows = 7;
            ushort[] w = Enumerable.Range(0, rows * columns).Select(_ => RandomWeight(random, brain)).ToArray();
            float[] x = Enumerable.Range(0, columns).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            float[] y = new float[rows + 1];
            y[rows] = 123; // past the range: untouched
            HalfMatVec.Rows(w, x, y, 0, rows, brain, tier);
            Assert.Equal(123, y[rows]);
            for (int r = 0; r < rows; r++)
            {
                ReadOnlySpan<ushort> row = w.AsSpan(r * columns, columns);
                double magnitude = 0;
                for (int k = 0; k < columns; k++)
                    magnitude += Math.Abs(HalfMatVec.Value(row[k], brain) * x[k]);
                float expected = HalfMatVec.Reference(row, x, brain);
                Assert.True(Math.Abs(y[r] - expected) <= 1e-6 * columns * magnitude + 1e-30,
                    $"{SimdTiers.Describe(tier)} {(brain ? "bf16" : "f16")} columns {columns} row {r}: {y[r]} vs reference {expected}");
            }
        }
    }

    /// <summary>A random finite 16-bit weight in [−4, 4).</summary>
    private static ushort RandomWeight(Random random, bool brain)
    {
        float value = (float)(random.NextDouble() * 8 - 4);
        return brain ? (ushort)(BitConverter.SingleToUInt32Bits(value) >> 16) : BitConverter.HalfToUInt16Bits((Half)value);
    }
}
