using RwkvQuant.Formats;
using RwkvQuant.Scalar;
using RwkvQuant.Scalar.Rtn;
using Xunit.Abstractions;

namespace RwkvQuant.Tests.Scalar.Rtn;

public class RoundToNearestTests(ITestOutputHelper output)
{
    /// <summary>
    /// Round-trip budget: every weight is within half a step of the stored grid, |x − x̂| ≤ s/2, up to float32
    /// rounding of x/s + z and of s·(q − z): a relative slack of 2⁻¹⁸ of the step plus 2⁻²⁰ of |x|.
    /// </summary>
    private const double HalfStepBudget = 0.5;
    private const double StepSlack = 1.0 / (1 << 18);
    private const double ValueSlack = 1.0 / (1 << 20);

    [Fact]
    public void Options_are_validated_at_construction()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new RoundToNearestOptions { Bits = 1 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new RoundToNearestOptions { Bits = 9 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new RoundToNearestOptions { GroupSize = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new RoundToNearestOptions { ScalePrecision = (ScalePrecision)7 });
        RoundToNearestOptions defaults = RoundToNearestOptions.Default;
        Assert.Equal((3, 64, false, ScalePrecision.F16), (defaults.Bits, defaults.GroupSize, defaults.Symmetric, defaults.ScalePrecision));
    }

    public static TheoryData<int, int, bool, ScalePrecision> Settings() => new()
    {
        { 2, 64, false, ScalePrecision.F16 },
        { 3, 64, false, ScalePrecision.F16 },
        { 3, 64, true, ScalePrecision.F16 },
        { 4, 7, false, ScalePrecision.BF16 },
        { 4, 32, true, ScalePrecision.BF16 },
        { 5, 131, false, ScalePrecision.F32 },
        { 6, 1, false, ScalePrecision.F16 },
        { 8, 50, false, ScalePrecision.BF16 },
        { 8, 64, true, ScalePrecision.F32 },
    };

    [Theory]
    [MemberData(nameof(Settings))]
    public void Codes_are_in_range_and_every_weight_is_within_half_a_stored_step(int bits, int groupSize, bool symmetric, ScalePrecision precision)
    {
        var options = new RoundToNearestOptions { Bits = bits, GroupSize = groupSize, Symmetric = symmetric, ScalePrecision = precision };
        foreach (int seed in new[] { 1, 2, 3 })
        {
            TensorData weight = ScalarTestData.Weight(seed, 37, 131);
            float[] w = weight.ToFloatArray();
            w[5] = 0.9f; // an outlier
            for (int c = 64; c < 128; c++) // a group far from zero (all positive)
                w[2 * 131 + c] = 3f + 0.01f * c;
            weight = TensorData.FromFloats(weight.Name, weight.Shape, w);
            var q = (GroupScalarTensor)new RoundToNearestQuantizer(options).Quantize(weight);
            AssertWithinHalfStep(w, q);
            Assert.All(q.GetCodes(), code => Assert.InRange(code, 0, (1 << bits) - 1));
            Assert.Equal("rtn", q.Method);
        }
    }

    /// <summary>
    /// Relative RMS error budgets ‖W − Ŵ‖ / ‖W‖ of asymmetric RTN, groups of 64, FP16, on Gaussian weights, per bit
    /// width: a uniform grid over a group's range (about 4.7σ for 64 Gaussians) gives ≈ 4.7/((2^b − 1)·√12), plus headroom.
    /// </summary>
    private static readonly Dictionary<int, double> RelativeRmsBudget = new()
    {
        [2] = 0.50, [3] = 0.22, [4] = 0.105, [5] = 0.051, [6] = 0.025, [8] = 0.0063,
    };

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(8)]
    public void Relative_rms_error_on_gaussian_weights_is_within_the_budget_of_its_bit_width(int bits)
    {
        TensorData weight = ScalarTestData.Weight(21, 64, 1000);
        float[] w = weight.ToFloatArray();
        float[] x = new RoundToNearestQuantizer(new RoundToNearestOptions { Bits = bits }).Quantize(weight).Dequantize();
        double error = Math.Sqrt(w.Zip(x).Sum(p => (p.First - (double)p.Second) * (p.First - (double)p.Second)) / w.Sum(v => (double)v * v));
        output.WriteLine($"{bits} bits: relative RMS error {error:F5}");
        Assert.True(error <= RelativeRmsBudget[bits], $"{bits} bits: {error} > {RelativeRmsBudget[bits]}");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Constant_and_zero_groups_are_finite_and_within_half_a_step(bool symmetric)
    {
        float[] w = new float[3 * 100];
        for (int c = 0; c < 100; c++)
        {
            w[c] = 0f;          // row 0: all zero
            w[100 + c] = 0.25f; // row 1: constant positive
            w[200 + c] = -1.5f; // row 2: constant negative
        }
        var options = new RoundToNearestOptions { Symmetric = symmetric };
        var q = (GroupScalarTensor)new RoundToNearestQuantizer(options).Quantize(TensorData.FromFloats("c", [3, 100], w));
        float[] x = q.Dequantize();
        Assert.All(x, value => Assert.True(float.IsFinite(value)));
        Assert.All(x.Take(100), value => Assert.Equal(0f, value));
        AssertWithinHalfStep(w, q);
    }

    [Fact]
    public void Bad_weights_are_rejected_with_the_tensor_name()
    {
        var rtn = new RoundToNearestQuantizer();
        ArgumentException nan = Assert.Throws<ArgumentException>(() => rtn.Quantize(TensorData.FromFloats("blocks.0.att.key.weight", [2, 2], [1f, float.NaN, 0f, 0f])));
        Assert.Contains("blocks.0.att.key.weight", nan.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => rtn.Quantize(TensorData.FromFloats("v", [4], [1f, 2f, 3f, 4f])));
        Assert.Throws<ArgumentException>(() => rtn.Quantize(new TensorData("i", TensorDataType.I32, [1, 1], new byte[4])));
        ArgumentException huge = Assert.Throws<ArgumentException>(() => rtn.Quantize(TensorData.FromFloats("huge", [1, 2], [1e9f, -1e9f])));
        Assert.Contains("huge", huge.Message, StringComparison.Ordinal);
        var f32 = new RoundToNearestQuantizer(new RoundToNearestOptions { ScalePrecision = ScalePrecision.F32 });
        Assert.True(float.IsFinite(f32.Quantize(TensorData.FromFloats("huge", [1, 2], [1e9f, -1e9f])).Dequantize()[0]));
    }

    [Fact]
    public void Rtn_ignores_the_hessian_and_names_itself()
    {
        var rtn = new RoundToNearestQuantizer();
        Assert.False(rtn.RequiresHessian);
        Assert.Equal("rtn a3 g64", rtn.Name);
        Assert.Equal("rtn a3 g64 f16", rtn.Quantize(ScalarTestData.Weight(1, 4, 64)).Scheme);
    }

    internal static void AssertWithinHalfStep(float[] weights, GroupScalarTensor q)
    {
        float[] x = q.Dequantize();
        for (int row = 0; row < q.Rows; row++)
        {
            for (int column = 0; column < q.Columns; column++)
            {
                int i = row * q.Columns + column;
                double step = q.GetScale(row, column / q.GroupSize);
                double budget = HalfStepBudget * step + StepSlack * step + ValueSlack * Math.Abs(weights[i]);
                double error = Math.Abs(weights[i] - (double)x[i]);
                Assert.True(error <= budget, $"[{row}, {column}]: |{weights[i]} − {x[i]}| = {error} > {budget} (step {step}).");
            }
        }
    }
}
