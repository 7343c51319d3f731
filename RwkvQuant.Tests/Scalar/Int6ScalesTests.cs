using RwkvQuant.Formats;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar;
using RwkvQuant.Scalar.Gptq;
using RwkvQuant.Scalar.Rtn;
using RwkvQuant.Tests.Scalar.Rtn;
using Xunit.Abstractions;

namespace RwkvQuant.Tests.Scalar;

/// <summary>Scales and zeros stored in 6 bits on FP16 super-block steps (<see cref="ScalePrecision.Int6"/>).</summary>
public class Int6ScalesTests(ITestOutputHelper output)
{
    public static TheoryData<int, int, bool> Settings() => new()
    {
        // bits, group size, symmetric; 131 columns: a short last group and a short last super-block
        { 2, 16, false },
        { 3, 32, false },
        { 3, 32, true },
        { 4, 7, false },
        { 4, 131, true },
        { 8, 16, false },
    };

    [Theory]
    [MemberData(nameof(Settings))]
    public void Round_to_nearest_keeps_every_weight_within_half_a_step_and_stores_the_bits_it_counts(int bits, int groupSize, bool symmetric)
    {
        var options = new RoundToNearestOptions { Bits = bits, GroupSize = groupSize, Symmetric = symmetric, ScalePrecision = ScalePrecision.Int6 };
        foreach (int seed in new[] { 1, 2 })
        {
            TensorData weight = ScalarTestData.Weight(seed, 37, 131);
            float[] w = weight.ToFloatArray();
            w[5] = 0.9f; // an outlier: its group's scale sets the super-block's step
            for (int c = 64; c < 128; c++) // a group far from zero (all positive)
                w[2 * 131 + c] = 3f + 0.01f * c;
            weight = TensorData.FromFloats(weight.Name, weight.Shape, w);
            var q = (GroupScalarTensor)new RoundToNearestQuantizer(options).Quantize(weight);
            RoundToNearestTests.AssertWithinHalfStep(w, q);
            Assert.All(q.GetCodes(), code => Assert.InRange(code, 0, (1 << bits) - 1));
            int groups = (131 + groupSize - 1) / groupSize, superBlocks = (groups + 7) / 8;
            long expected = 37L * 131 * bits + 37L * groups * (symmetric ? 6 : 12) + 37L * superBlocks * 16;
            Assert.Equal(expected, q.StoredBits);
            Assert.Equal(expected, new RoundToNearestQuantizer(options).StoredBitsFor(37, 131));
            Assert.Contains(" int6", q.Scheme, StringComparison.Ordinal);
            for (int row = 0; row < q.Rows; row++)
            {
                for (int g = 0; g < groups; g++)
                {
                    // A scale is a multiple 0…63 of an FP16 step; a zero one of 64 points over [0, 2^b − 1].
                    float zero = q.GetZero(row, g);
                    Assert.True(symmetric ? zero == 1 << (bits - 1) : Math.Abs(zero * 63 / ((1 << bits) - 1) - Math.Round(zero * 63.0 / ((1 << bits) - 1))) < 1e-4);
                }
            }
        }
    }

    [Fact]
    public void Scale_codes_cost_little_error_and_finer_groups_pay_for_themselves()
    {
        TensorData weight = ScalarTestData.Weight(21, 64, 1024);
        float[] w = weight.ToFloatArray();
        double Error(RoundToNearestOptions o)
        {
            float[] x = new RoundToNearestQuantizer(o).Quantize(weight).Dequantize();
            return Math.Sqrt(w.Zip(x).Sum(p => (p.First - (double)p.Second) * (p.First - (double)p.Second)) / w.Sum(v => (double)v * v));
        }
        double f16g32 = Error(new RoundToNearestOptions { GroupSize = 32 });
        double int6g32 = Error(new RoundToNearestOptions { GroupSize = 32, ScalePrecision = ScalePrecision.Int6 });
        double f16g64 = Error(new RoundToNearestOptions { GroupSize = 64 });
        output.WriteLine($"relative RMS error, 3-bit: g32 FP16 {f16g32:F5} (4.0 bpw), g32 Int6 {int6g32:F5} (3.4375 bpw), g64 FP16 {f16g64:F5} (3.5 bpw)");
        Assert.True(int6g32 < 1.06 * f16g32, $"Int6 {int6g32} vs FP16 {f16g32}");
        Assert.True(int6g32 < 0.95 * f16g64, $"Int6 g32 {int6g32} vs FP16 g64 {f16g64}");
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void Gptq_beats_round_to_nearest_on_the_same_int6_grid_and_stores_valid_steps(bool actOrder, bool symmetric)
    {
        const int Rows = 48, Columns = 300; // groups of 16: 19 per row, three super-blocks (the last one short)
        var rtn = new RoundToNearestQuantizer(new RoundToNearestOptions { GroupSize = 16, Symmetric = symmetric, ScalePrecision = ScalePrecision.Int6 });
        var gptq = new GptqQuantizer(new GptqOptions { GroupSize = 16, Symmetric = symmetric, ActOrder = actOrder, ScalePrecision = ScalePrecision.Int6, BlockSize = 40 });
        foreach (int seed in new[] { 1, 2, 3 })
        {
            TensorData weight = ScalarTestData.Weight(seed, Rows, Columns);
            Hessian h = ScalarTestData.CorrelatedHessian(seed, Columns);
            float[] w = weight.ToFloatArray();
            var q = (GroupScalarTensor)gptq.Quantize(weight, h);
            double gptqError = h.WeightedError(w, q.Dequantize());
            double rtnError = h.WeightedError(w, rtn.Quantize(weight).Dequantize());
            output.WriteLine($"seed {seed}: GPTQ/RTN = {gptqError / rtnError:F3}");
            Assert.True(gptqError < 0.8 * rtnError, $"seed {seed}: GPTQ {gptqError} vs RTN {rtnError}");
            Assert.Equal(ScalePrecision.Int6, q.ScalePrecision);
            Assert.Equal(3, q.SuperBlocksPerRow);
            Assert.Equal(gptq.StoredBitsFor(Rows, Columns), q.StoredBits);
            Assert.All(q.GetCodes(), code => Assert.InRange(code, 0, 7));
        }
    }

    [Fact]
    public void Values_that_are_not_on_the_int6_grid_and_bad_stored_steps_are_refused()
    {
        int[] codes = new int[2 * 16];
        // 0.3 is not a multiple of the step 0.25; 0.5 is (a = 2).
        Assert.Throws<ArgumentException>(() => new GroupScalarTensor("t", 2, 16, "test", 3, 16, false, ScalePrecision.Int6, codes, [0.5f, 0.3f], [0f, 0f], null, [0.25f, 0.25f]));
        // 0.5 is not one of the 64 zeros of 3-bit codes (k·7/63 = k/9).
        Assert.Throws<ArgumentException>(() => new GroupScalarTensor("t", 2, 16, "test", 3, 16, false, ScalePrecision.Int6, codes, [0.5f, 0.5f], [0.5f, 0f], null, [0.25f, 0.25f]));
        Assert.Throws<ArgumentException>(() => new GroupScalarTensor("t", 2, 16, "test", 3, 16, false, ScalePrecision.F16, codes, [0.5f, 0.5f], [0f, 0f], null, [0.25f, 0.25f]));
        var good = new GroupScalarTensor("t", 2, 16, "test", 3, 16, false, ScalePrecision.Int6, codes, [0.5f, 15.75f], [7f / 9, 0f], null, [0.25f, 0.25f]);
        Assert.Equal(15.75f, good.GetScale(1, 0));
        Assert.Equal(7f / 9, good.GetZero(0, 0));
        byte[] scales = good.StoredScales.ToArray(), zeros = good.StoredZeros.ToArray(), steps = good.StoredSteps.ToArray();
        GroupScalarTensor again = GroupScalarTensor.FromStoredParts("t", 2, 16, "test", 3, 16, false, ScalePrecision.Int6, good.PackedCodes.ToArray(), scales, zeros, null, steps);
        Assert.Equal(good.Dequantize(), again.Dequantize());
        byte[] nan = (byte[])steps.Clone();
        BitConverter.TryWriteBytes(nan.AsSpan(2), Half.NaN);
        ArgumentException e = Assert.Throws<ArgumentException>(() =>
            GroupScalarTensor.FromStoredParts("t", 2, 16, "test", 3, 16, false, ScalePrecision.Int6, good.PackedCodes.ToArray(), scales, zeros, null, nan));
        Assert.Contains("'t'", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() =>
            GroupScalarTensor.FromStoredParts("t", 2, 16, "test", 3, 16, false, ScalePrecision.Int6, good.PackedCodes.ToArray(), scales, zeros, null, null));
        Assert.Throws<ArgumentException>(() =>
            GroupScalarTensor.FromStoredParts("t", 2, 16, "test", 3, 16, false, ScalePrecision.Int6, good.PackedCodes.ToArray(), [.. scales, 0], zeros, null, steps));
    }
}
