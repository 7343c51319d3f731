using System.Buffers.Binary;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Scalar.Ggml;

namespace RwkvQuant.Tests.Scalar.Ggml;

public class GgmlBlockQuantizerTests
{
    /// <summary>Round to nearest: a value lands within half a step d of its reconstruction.</summary>
    private const double HalfStep = 0.5;

    /// <summary>
    /// Q4_0/Q5_0 put the first value of largest magnitude at code 0; a value of the opposite sign near the same
    /// magnitude needs code 16 (32) and is clamped to 15 (31): up to one whole step off, and only at that code.
    /// </summary>
    private const double ClampedStep = 1.0;

    /// <summary>Codes are chosen against the float32 d but decoded with fp16(d): the error of d (at most 2^-11 relative)
    /// is multiplied by the code's distance from zero. 2^-10 leaves room for the float32 rounding of 1/d.</summary>
    private const double Fp16RelativeError = 1.0 / 1024;

    /// <summary>Round-trip budget per format, in steps d (the largest error of any value of a block).</summary>
    private static readonly Dictionary<GgmlType, double> StepBudget = new()
    {
        [GgmlType.Q4_0] = ClampedStep,
        [GgmlType.Q4_1] = HalfStep,
        [GgmlType.Q5_0] = ClampedStep,
        [GgmlType.Q5_1] = HalfStep,
        [GgmlType.Q8_0] = HalfStep,
    };

    public static TheoryData<GgmlType> BlockTypes => new() { GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0 };

    [Fact]
    public void Q4_0_golden_block_with_ties_truncation_and_the_clamp()
    {
        float[] x = Block(
            (0, 1f), (1, 0.125f), (2, -0.125f), (3, 0.375f), (4, -0.375f), (5, -2f), (6, 2f),
            (16, 0.5f), (17, -1f), (31, 1.875f));
        // d = −2/−8 = 0.25 (the first value of largest magnitude is −2), id = 4; q = min(15, trunc(4x + 8.5)):
        // 1 → 12, ±0.125 → 9/8 and ±0.375 → 10/7 (ties go up), −2 → 0, 2 → 16.5 → 15 (clamped), 0 → 8,
        // 0.5 → 10, −1 → 4, 1.875 → 16 → 15 (clamped).
        AssertBlock(GgmlType.Q4_0, x, "0034" + "AC49888A87808F" + "8888888888888888" + "F8");
    }

    [Fact]
    public void Q4_0_takes_the_sign_of_the_first_value_of_largest_magnitude()
    {
        float[] x = Block((5, 2f), (6, -2f));
        // d = 2/−8 = −0.25, id = −4: 2 → 0.5 → 0, −2 → 16.5 → 15 (clamped), 0 → 8.
        AssertBlock(GgmlType.Q4_0, x, "00B4" + "8888888888" + "808F" + "888888888888888888");
    }

    [Fact]
    public void Q4_1_golden_block_with_a_tie_and_fp16_minimum()
    {
        float[] x = Block((0, -1f), (1, 14f), (2, 2.5f), (3, 0.5f), (4, -0.5f), (16, 6.25f));
        // min = −1, d = 15/15 = 1: q = min(15, trunc(x + 1 + 0.5)): −1 → 0, 14 → 15, 2.5 → 4 (tie up), 0.5 → 2,
        // −0.5 → 1, 0 → 1, 6.25 → 7.
        AssertBlock(GgmlType.Q4_1, x, "003C00BC" + "701F141211" + "1111111111111111111111");
    }

    [Fact]
    public void Q5_0_golden_block_with_high_bits_ties_and_clamps()
    {
        float[] x = Block((0, -4f), (1, 4f), (3, 0.125f), (4, -0.125f), (5, 1f), (16, -3.75f), (17, 3.875f));
        // d = −4/−16 = 0.25, id = 4: q = min(31, trunc(4x + 16.5)): −4 → 0, 4 → 32 → 31, 0 → 16, 0.125 → 17,
        // −0.125 → 16, 1 → 20, −3.75 → 1, 3.875 → 32 → 31. qh = bit j for code j ≥ 16: all but codes 0 and 16.
        AssertBlock(GgmlType.Q5_0, x, "0034" + "FEFFFEFF" + "10FF00010004" + "00000000000000000000");
    }

    [Fact]
    public void Q5_1_golden_block_with_high_bits_and_ties()
    {
        float[] x = Block((0, -2f), (1, 29f), (2, 13.5f), (3, 14.25f), (4, 1f), (16, 15f), (17, -1.5f));
        // min = −2, d = 31/31 = 1: q = trunc(x + 2 + 0.5): −2 → 0, 29 → 31, 13.5 → 16 (tie up), 14.25 → 16,
        // 1 → 3, 0 → 2, 15 → 17, −1.5 → 1 (tie up). qh: codes 1, 2, 3 and 16 are ≥ 16.
        AssertBlock(GgmlType.Q5_1, x, "003C00C0" + "0E000100" + "101F202023" + "2222222222222222222222");
    }

    [Fact]
    public void Q8_0_golden_block_rounds_halves_away_from_zero()
    {
        float[] x = Block((0, 127f), (1, -127f), (2, 2.5f), (3, -2.5f), (4, 0.5f), (5, -0.5f), (6, 1.5f), (7, 1.25f), (8, -100f));
        // d = 127/127 = 1: 2.5 → 3 and −2.5 → −3 (banker's rounding would give ±2), ±0.5 → ±1, 1.5 → 2, 1.25 → 1.
        AssertBlock(GgmlType.Q8_0, x, "003C" + "7F8103FD01FF02019C" + string.Concat(Enumerable.Repeat("00", 23)));
    }

    // Q4_0/Q5_0 store d = 0/−8 = −0 (fp16 0x8000), exactly as ggml's float division gives it.
    [Theory]
    [InlineData(GgmlType.Q4_0, "0080" + "88888888888888888888888888888888")]
    [InlineData(GgmlType.Q4_1, "00000000" + "00000000000000000000000000000000")]
    [InlineData(GgmlType.Q5_0, "0080" + "FFFFFFFF" + "00000000000000000000000000000000")]
    [InlineData(GgmlType.Q5_1, "00000000" + "00000000" + "00000000000000000000000000000000")]
    [InlineData(GgmlType.Q8_0, "0000" + "0000000000000000000000000000000000000000000000000000000000000000")]
    public void An_all_zero_block_has_scale_zero_and_the_zero_code(GgmlType type, string hex) =>
        AssertBlock(type, new float[32], hex);

    [Theory]
    [MemberData(nameof(BlockTypes))]
    public void Round_trip_error_stays_within_the_formats_budget_on_random_blocks(GgmlType type)
    {
        var random = new Random(1234 + (int)type);
        const int blocks = 2000;
        float[] x = new float[blocks * 32];
        for (int i = 0; i < x.Length; i++)
        {
            // Mix of Gaussian-like, uniform, fp16-representable (tie-prone) values and outliers, per block.
            double u = random.NextDouble() * 2 - 1;
            x[i] = (i / 32 % 4) switch
            {
                0 => (float)(u * 0.05),
                1 => (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(6.283 * random.NextDouble()) * 0.02),
                2 => (float)(Half)(u * 0.1),
                _ => (float)(random.Next(20) == 0 ? u * 3 : u * 0.01),
            };
        }
        var stored = new byte[type.StorageSize(x.Length)];
        GgmlBlockQuantizer.Quantize(type, x, stored);
        var y = new float[x.Length];
        GgmlBlocks.Dequantize(type, stored, y);

        int blockBytes = type.BytesPerBlock();
        bool hasMinimum = type is GgmlType.Q4_1 or GgmlType.Q5_1;
        int maxCodeDistance = type switch { GgmlType.Q4_0 or GgmlType.Q4_1 => 16, GgmlType.Q5_0 or GgmlType.Q5_1 => 32, _ => 127 };
        double worst = 0;
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<byte> block = stored.AsSpan(b * blockBytes, blockBytes);
            double signedD = ReadHalf(block, 0);
            double d = Math.Abs(signedD);
            double m = hasMinimum ? Math.Abs(ReadHalf(block, 2)) : 0;
            double slack = maxCodeDistance * d * Fp16RelativeError + m * Fp16RelativeError + 1e-7;
            for (int j = 0; j < 32; j++)
            {
                int i = b * 32 + j;
                double error = Math.Abs(x[i] - y[i]);
                Assert.True(error <= StepBudget[type] * d + slack, $"{type} block {b} value {j}: {x[i]} → {y[i]}, d = {d}");
                if (error > HalfStep * d + slack)
                {
                    // Only the clamped top code (15 − 8 or 31 − 16 steps) may exceed half a step.
                    int top = type == GgmlType.Q4_0 ? 7 : 15;
                    Assert.Equal((float)(top * signedD), y[i]);
                }
                worst = Math.Max(worst, d > 0 ? error / d : 0);
            }
        }
        Assert.True(worst > 0.3, $"{type}: the largest error, {worst:F3} steps, is implausibly small for random data");
    }

    [Theory]
    [MemberData(nameof(BlockTypes))]
    public void Wrong_sizes_are_rejected(GgmlType type)
    {
        Assert.Throws<ArgumentException>(() => GgmlBlockQuantizer.Quantize(type, new float[33], new byte[type.BytesPerBlock() * 2]));
        Assert.Throws<ArgumentException>(() => GgmlBlockQuantizer.Quantize(type, new float[64], new byte[type.BytesPerBlock()]));
    }

    [Fact]
    public void Float_types_are_not_block_types()
    {
        Assert.Throws<ArgumentException>(() => GgmlBlockQuantizer.Quantize(GgmlType.F16, new float[32], new byte[64]));
    }

    /// <summary>
    /// The fp16 scale is .NET's float → Half conversion; ggml's (F16C or its bit-twiddling fallback) rounds to nearest,
    /// ties to even. Checked against an exact reference on random values and on exact ties.
    /// </summary>
    [Fact]
    public void Float_to_half_conversion_rounds_to_nearest_even()
    {
        var random = new Random(7);
        for (int i = 0; i < 200_000; i++)
        {
            float f = BitConverter.Int32BitsToSingle(random.Next() & 0x477FFFFF | (random.Next(2) << 31)); // |f| < 65536
            Assert.Equal(ReferenceHalfBits(f), BitConverter.HalfToUInt16Bits((Half)f));
        }
        for (int i = 0; i < 100_000; i++)
        {
            // Exactly halfway between two neighbouring halves (normal and subnormal): must go to the even one.
            ushort h = (ushort)random.Next(0x7BFF);
            float low = (float)BitConverter.UInt16BitsToHalf(h), high = (float)BitConverter.UInt16BitsToHalf((ushort)(h + 1));
            float tie = (float)(((double)low + high) / 2);
            Assert.Equal((ushort)((h & 1) == 0 ? h : h + 1), BitConverter.HalfToUInt16Bits((Half)tie));
        }
    }

    /// <summary>Round to nearest even onto the fp16 grid, computed exactly in double.</summary>
    private static ushort ReferenceHalfBits(float f)
    {
        ushort sign = (ushort)(f < 0 || (f == 0 && float.IsNegative(f)) ? 0x8000 : 0);
        double a = Math.Abs((double)f);
        if (a == 0)
            return sign;
        int e = Math.Max(Math.ILogB(a), -14);
        double spacing = Math.ScaleB(1.0, e - 10);
        double r = Math.Round(a / spacing, MidpointRounding.ToEven);
        int bits = a < Math.ScaleB(1.0, -14) ? (int)r : ((e + 14) << 10) + (int)r;
        return (ushort)(sign | Math.Min(bits, 0x7C00));
    }

    private static float[] Block(params (int Index, float Value)[] values)
    {
        var x = new float[32];
        foreach (var (index, value) in values)
            x[index] = value;
        return x;
    }

    private static void AssertBlock(GgmlType type, float[] x, string expectedHex)
    {
        var stored = new byte[type.BytesPerBlock()];
        GgmlBlockQuantizer.Quantize(type, x, stored);
        Assert.Equal(expectedHex, Convert.ToHexString(stored));
    }

    private static double ReadHalf(ReadOnlySpan<byte> bytes, int offset) =>
        (double)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(bytes.Slice(offset, 2)));
}
