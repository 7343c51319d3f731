using RwkvQuant.Formats;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar;
using RwkvQuant.Scalar.Gptq;
using RwkvQuant.Scalar.Rtn;
using Xunit.Abstractions;

namespace RwkvQuant.Tests.Scalar.Gptq;

public class GptqTests(ITestOutputHelper output)
{
    private const int Rows = 37, Columns = 131; // 131 = 2·64 + 3: a partial last group

    [Fact]
    public void Options_are_validated_at_construction()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new GptqOptions { Bits = 1 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new GptqOptions { Bits = 9 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new GptqOptions { GroupSize = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new GptqOptions { BlockSize = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new GptqOptions { DampingPercent = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new GptqOptions { DampingPercent = double.NaN });
        Assert.Throws<ArgumentOutOfRangeException>(() => new GptqOptions { MaxDampingAttempts = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new GptqOptions { ScalePrecision = (ScalePrecision)(-1) });
        GptqOptions d = GptqOptions.Default;
        Assert.Equal((3, 64, false, ScalePrecision.F16, 0.01, 128, false), (d.Bits, d.GroupSize, d.Symmetric, d.ScalePrecision, d.DampingPercent, d.BlockSize, d.ActOrder));
        Assert.True(new GptqQuantizer().RequiresHessian);
        Assert.Equal("gptq a3 g64 act-order", new GptqQuantizer(new GptqOptions { ActOrder = true }).Name);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void Hessian_weighted_error_is_below_rtn_at_the_same_bits_on_correlated_inputs(bool actOrder, bool symmetric)
    {
        var rtn = new RoundToNearestQuantizer(new RoundToNearestOptions { Symmetric = symmetric });
        var gptq = new GptqQuantizer(new GptqOptions { ActOrder = actOrder, Symmetric = symmetric });
        foreach (int seed in new[] { 1, 2, 3, 4 })
        {
            TensorData weight = ScalarTestData.Weight(seed, Rows, Columns);
            Hessian h = ScalarTestData.CorrelatedHessian(seed, Columns);
            float[] w = weight.ToFloatArray();
            var q = (GroupScalarTensor)gptq.Quantize(weight, h);
            double gptqError = h.WeightedError(w, q.Dequantize());
            double rtnError = h.WeightedError(w, rtn.Quantize(weight).Dequantize());
            output.WriteLine($"seed {seed}: GPTQ/RTN = {gptqError / rtnError:F3}");
            Assert.True(gptqError < 0.8 * rtnError, $"seed {seed}: GPTQ {gptqError} vs RTN {rtnError}");
            Assert.All(q.GetCodes(), code => Assert.InRange(code, 0, 7));
            Assert.Equal(actOrder, q.HasPermutation);
            long codeAndGroupBits = (long)Rows * Columns * 3 + (long)Rows * 3 * 16 * (symmetric ? 1 : 2);
            Assert.Equal(codeAndGroupBits + (actOrder ? Columns * 8L : 0), q.StoredBits);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void With_h_a_multiple_of_the_identity_gptq_equals_rtn_exactly(bool symmetric)
    {
        // U = chol((cI + λI)⁻¹)ᵀ is diagonal: no error is fed forward, and the groups are fitted the same way.
        TensorData weight = ScalarTestData.Weight(5, Rows, Columns);
        var rtn = (GroupScalarTensor)new RoundToNearestQuantizer(new RoundToNearestOptions { Symmetric = symmetric }).Quantize(weight);
        var gptq = (GroupScalarTensor)new GptqQuantizer(new GptqOptions { Symmetric = symmetric, BlockSize = 50 }).Quantize(weight, Hessian.Identity(Columns));
        Assert.Equal(rtn.GetCodes(), gptq.GetCodes());
        Assert.Equal(rtn.Dequantize(), gptq.Dequantize());
        Assert.Equal(rtn.StoredBits, gptq.StoredBits);
        Assert.Empty(gptq.Notes);
    }

    [Theory]
    [InlineData(64, new[] { 1, 50, 128, Columns })] // group starts inside blocks (50), groups across blocks (50, 128)
    [InlineData(48, new[] { 32, 128 })]              // groups not aligned with blocks
    [InlineData(100, new[] { 32 })]                  // groups longer than blocks
    public void Matches_a_naive_double_precision_twin_built_from_the_paper(int groupSize, int[] blockSizes)
    {
        foreach (int seed in new[] { 1, 2 })
        {
            TensorData weight = ScalarTestData.Weight(seed, Rows, Columns);
            Hessian h = ScalarTestData.CorrelatedHessian(seed, Columns);
            float[] w = weight.ToFloatArray();
            float[] naive = NaiveGptq(w, h, bits: 3, groupSize, damping: 0.01);
            foreach (int blockSize in blockSizes)
            {
                var q = new GptqQuantizer(new GptqOptions { GroupSize = groupSize, BlockSize = blockSize }).Quantize(weight, h);
                float[] x = q.Dequantize();
                int same = x.Zip(naive).Count(pair => pair.First == pair.Second);
                double fast = h.WeightedError(w, x), reference = h.WeightedError(w, naive);
                output.WriteLine($"seed {seed}, group {groupSize}, block {blockSize}: {same} of {x.Length} agree; error {fast / reference:F5} of the twin's");
                Assert.True(same >= 0.97 * x.Length, $"block {blockSize}: {same} of {x.Length} values agree");
                Assert.True(Math.Abs(fast - reference) <= 0.005 * reference, $"block {blockSize}: {fast} vs {reference}");
            }
        }
    }

    [Fact]
    public void Cancellation_is_honoured()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() =>
            new GptqQuantizer().Quantize(ScalarTestData.Weight(1, Rows, Columns), Hessian.Identity(Columns), cancelled.Token));
    }

    [Fact]
    public void Dead_columns_are_zeroed_before_quantization_and_reported()
    {
        var random = new Random(3);
        const int Samples = 400;
        var inputs = new float[Samples * Columns];
        for (int i = 0; i < inputs.Length; i++)
            inputs[i] = i % Columns is 7 or 100 ? 0f : (float)ScalarTestData.Gaussian(random);
        using var accumulator = new HessianAccumulator(Columns);
        accumulator.Add(inputs, Samples);
        Hessian h = accumulator.Build();
        TensorData weight = ScalarTestData.Weight(3, Rows, Columns);
        var q = (GroupScalarTensor)new GptqQuantizer(new GptqOptions { ActOrder = true }).Quantize(weight, h);
        float[] x = q.Dequantize();
        int[] order = q.GetColumnOrder();
        for (int row = 0; row < Rows; row++)
        {
            // A zero weight lands on the grid point nearest 0 (the stored zero z need not be an integer).
            foreach (int column in new[] { 7, 100 })
                Assert.True(Math.Abs(x[row * Columns + column]) <= 0.5 * q.GetScale(row, Array.IndexOf(order, column) / 64));
        }
        Assert.Equal([7, 100], order[^2..]); // H_ii = 1 after the repair: the smallest diagonal, last in act-order
        Assert.Contains(q.Notes, note => note.Contains("2 dead column(s)", StringComparison.Ordinal));
    }

    [Fact]
    public void Damping_is_raised_on_an_indefinite_hessian_and_the_result_is_finite()
    {
        Hessian correlated = ScalarTestData.CorrelatedHessian(9, Columns);
        double meanDiagonal = Enumerable.Range(0, Columns).Average(i => correlated[i, i]);
        double[] values = correlated.Values.ToArray();
        for (int i = 0; i < Columns; i++)
            values[i * Columns + i] -= 0.05 * meanDiagonal; // λ_min ≈ −0.05·mean: 1% fails, 10% works
        var h = new Hessian(Columns, values, correlated.SampleCount);
        var q = new GptqQuantizer().Quantize(ScalarTestData.Weight(9, Rows, Columns), h);
        Assert.All(q.Dequantize(), value => Assert.True(float.IsFinite(value)));
        string note = Assert.Single(q.Notes);
        Assert.Contains("raised to 0.1", note, StringComparison.Ordinal);
    }

    [Fact]
    public void A_hessian_no_damping_can_repair_is_a_clear_error()
    {
        double[] values = new double[Columns * Columns];
        for (int i = 0; i < Columns; i++)
            values[i * Columns + i] = -2;
        var gptq = new GptqQuantizer(new GptqOptions { MaxDampingAttempts = 2 });
        InvalidOperationException e = Assert.Throws<InvalidOperationException>(() => gptq.Quantize(ScalarTestData.Weight(1, Rows, Columns), new Hessian(Columns, values, 1)));
        Assert.Contains("w1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_inputs_are_rejected()
    {
        var gptq = new GptqQuantizer();
        TensorData weight = ScalarTestData.Weight(1, Rows, Columns);
        Assert.Throws<ArgumentException>(() => gptq.Quantize(weight));
        ArgumentException size = Assert.Throws<ArgumentException>(() => gptq.Quantize(weight, Hessian.Identity(Columns - 1)));
        Assert.Contains("w1", size.Message, StringComparison.Ordinal);
        float[] w = weight.ToFloatArray();
        w[17] = float.PositiveInfinity;
        Assert.Throws<ArgumentException>(() => gptq.Quantize(TensorData.FromFloats("bad", [Rows, Columns], w), Hessian.Identity(Columns)));
    }

    /// <summary>
    /// GPTQ as the paper's Algorithm 1 without Cholesky or blocks, in float64: after quantizing column i, the later
    /// columns get W[:, j] −= (w_i − q_i)·H⁻¹_ij / H⁻¹_ii, and column i is eliminated from H⁻¹ (the OBS update).
    /// Groups are fitted at their first column from the current weights, like the implementation.
    /// </summary>
    private static float[] NaiveGptq(float[] weights, Hessian h, int bits, int groupSize, double damping)
    {
        int n = h.Size, rows = weights.Length / n, maxCode = (1 << bits) - 1;
        double meanDiagonal = Enumerable.Range(0, n).Average(i => h[i, i]);
        var inverse = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                inverse[i, j] = h[i, j] + (i == j ? damping * meanDiagonal : 0);
        Invert(inverse);
        double[] w = weights.Select(x => (double)x).ToArray();
        var result = new float[weights.Length];
        var grids = new GroupGrid[rows];
        for (int i = 0; i < n; i++)
        {
            if (i % groupSize == 0)
            {
                for (int row = 0; row < rows; row++)
                {
                    IEnumerable<double> group = Enumerable.Range(i, Math.Min(groupSize, n - i)).Select(c => (double)(float)w[row * n + c]);
                    grids[row] = GroupGrid.Fit(group.Min(), group.Max(), bits, false, ScalePrecision.F16);
                }
            }
            for (int row = 0; row < rows; row++)
            {
                float value = grids[row].Decode(grids[row].Encode((float)w[row * n + i], maxCode));
                result[row * n + i] = value;
                double error = (w[row * n + i] - value) / inverse[i, i];
                for (int j = i + 1; j < n; j++)
                    w[row * n + j] -= error * inverse[i, j];
            }
            for (int a = i + 1; a < n; a++)
                for (int b = i + 1; b < n; b++)
                    inverse[a, b] -= inverse[a, i] * inverse[i, b] / inverse[i, i];
        }
        return result;
    }

    /// <summary>Gauss–Jordan inversion in place (the matrix is symmetric positive definite: no pivoting needed).</summary>
    private static void Invert(double[,] a)
    {
        int n = a.GetLength(0);
        for (int k = 0; k < n; k++)
        {
            double pivot = a[k, k];
            a[k, k] = 1;
            for (int j = 0; j < n; j++)
                a[k, j] /= pivot;
            for (int i = 0; i < n; i++)
            {
                if (i == k)
                    continue;
                double factor = a[i, k];
                a[i, k] = 0;
                for (int j = 0; j < n; j++)
                    a[i, j] -= factor * a[k, j];
            }
        }
    }
}
