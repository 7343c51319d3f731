using RwkvQuant.Quantization;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.Quantization;

public class HessianTests
{
    [Fact]
    public void Accumulates_two_over_n_sum_of_outer_products()
    {
        using var accumulator = new HessianAccumulator(3);
        accumulator.Add([1f, 2f, 3f, 0f, 1f, -1f], 2);
        using (var scope = NewDisposeScope())
            accumulator.Add(tensor((float[])[2f, 0f, 1f], [1, 1, 3]));
        Hessian h = accumulator.Build();
        // Σ x xᵀ: [1,2,3]ᵀ[1,2,3] + [0,1,-1]ᵀ[0,1,-1] + [2,0,1]ᵀ[2,0,1]; times 2/3
        double[,] sum = { { 1 + 0 + 4, 2 + 0 + 0, 3 + 0 + 2 }, { 2, 4 + 1, 6 - 1 }, { 5, 5, 9 + 1 + 1 } };
        Assert.Equal(3, h.SampleCount);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                Assert.Equal(sum[i, j] * 2 / 3, h[i, j], 12);
    }

    [Fact]
    public void Float32_partial_sums_fold_into_the_float64_total_across_many_calls()
    {
        // 7 calls of 3,001 rows cross the float32 partial's fold point (PartialRows) once; a Build between calls, and
        // inputs added after it, must give the same totals as a float64 sum over every row.
        const int size = 5, rows = 3001, calls = 7;
        var random = new Random(13);
        var reference = new double[size, size];
        using var accumulator = new HessianAccumulator(size);
        Hessian? midway = null;
        for (int call = 0; call < calls; call++)
        {
            float[] x = new float[rows * size];
            for (int i = 0; i < x.Length; i++)
                x[i] = (float)(random.NextDouble() * 2 - 1 + (i % size == 2 ? 3 : 0)); // one column with a large mean
            for (int r = 0; r < rows; r++)
                for (int i = 0; i < size; i++)
                    for (int j = 0; j < size; j++)
                        reference[i, j] += (double)x[r * size + i] * x[r * size + j];
            accumulator.Add(x, rows);
            if (call == 2)
                midway = accumulator.Build();
        }
        Assert.True((long)rows * calls > HessianAccumulator.PartialRows);
        Hessian h = accumulator.Build();
        Assert.Equal((long)rows * calls, h.SampleCount);
        Assert.Equal(3L * rows, midway!.SampleCount);
        for (int i = 0; i < size; i++)
        {
            for (int j = 0; j < size; j++)
            {
                double expected = reference[i, j] * 2 / (rows * calls);
                Assert.True(Math.Abs(h[i, j] - expected) <= 1e-5 * Math.Max(1, Math.Abs(expected)), $"H[{i},{j}] = {h[i, j]}, expected {expected}");
            }
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Blocked_symmetric_update_equals_the_full_product_at_a_width_of_several_blocks(bool doubleInputs)
    {
        // Width 2 blocks + 37 columns: diagonal, full and ragged blocks, and their mirrors below the diagonal; a Build
        // between calls mirrors, and the later call must still land in the right blocks.
        int size = 2 * HessianAccumulator.SymmetricBlock + 37, rows = 29;
        var random = new Random(5);
        var reference = new double[(long)size * size];
        using var accumulator = new HessianAccumulator(size);
        for (int call = 0; call < 2; call++)
        {
            double[] x = new double[rows * size];
            for (int i = 0; i < x.Length; i++)
                x[i] = doubleInputs ? random.NextDouble() - 0.5 : (float)(random.NextDouble() - 0.5);
            for (int r = 0; r < rows; r++)
                for (int i = 0; i < size; i++)
                    for (int j = 0; j < size; j++)
                        reference[(long)i * size + j] += x[r * size + i] * x[r * size + j];
            using (var scope = NewDisposeScope())
                accumulator.Add(doubleInputs ? tensor(x, [rows, size]) : tensor(x, [rows, size]).to(ScalarType.Float32));
            if (call == 0)
                accumulator.Build();
        }
        Hessian h = accumulator.Build();
        double tolerance = doubleInputs ? 1e-12 : 1e-5;
        for (int i = 0; i < size; i++)
        {
            for (int j = 0; j < size; j++)
            {
                double expected = reference[(long)i * size + j] * 2 / (2 * rows);
                Assert.True(Math.Abs(h[i, j] - expected) <= tolerance * Math.Max(1, Math.Abs(expected)), $"H[{i},{j}] = {h[i, j]}, expected {expected}");
                Assert.Equal(h[i, j], h[j, i]);
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(36)]
    public void Weighted_errors_by_blocks_of_rows_equal_the_whole_matrix_products(int rowsPerBlock)
    {
        const int rows = 37, size = 19;
        var random = new Random(rowsPerBlock);
        double[] x = Enumerable.Range(0, 64 * size).Select(_ => random.NextDouble() - 0.5).ToArray();
        var h = new double[size * size];
        for (int i = 0; i < size; i++)
            for (int j = 0; j < size; j++)
                for (int t = 0; t < 64; t++)
                    h[i * size + j] += x[t * size + i] * x[t * size + j] / 32;
        var hessian = new Hessian(size, h, 64);
        float[] w = Enumerable.Range(0, rows * size).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        float[] q = w.Select(v => MathF.Round(v * 8) / 8).ToArray();
        double expected = 0, expectedReference = 0;
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < size; i++)
                for (int j = 0; j < size; j++)
                {
                    expected += (w[r * size + i] - (double)q[r * size + i]) * h[i * size + j] * (w[r * size + j] - (double)q[r * size + j]);
                    expectedReference += w[r * size + i] * h[i * size + j] * (double)w[r * size + j];
                }
        double exact = hessian.WeightedErrors(w, q, ScalarType.Float64, rowsPerBlock).Error;
        Assert.Equal(expected, exact, expected * 1e-12);
        (double error, double reference) = hessian.WeightedErrors(w, q, ScalarType.Float32, rowsPerBlock);
        Assert.Equal(expected, error, expected * 1e-5);
        Assert.Equal(expectedReference, reference, expectedReference * 1e-5);
        Assert.Equal(exact, hessian.WeightedError(w, q), exact * 1e-12);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(37)]
    [InlineData(1000)]
    public void The_tensor_holds_every_value_whatever_the_copy_blocks(int rowsPerBlock)
    {
        const int size = 37;
        var random = new Random(rowsPerBlock);
        double[] values = Enumerable.Range(0, size * size).Select(_ => random.NextDouble() - 0.5).ToArray();
        var hessian = new Hessian(size, values, 10);
        using var scope = NewDisposeScope();
        Tensor t = hessian.ToTensor(ScalarType.Float64, rowsPerBlock);
        Assert.Equal(new long[] { size, size }, t.shape);
        Assert.Equal(ScalarType.Float64, t.dtype);
        Assert.Equal(values, t.contiguous().data<double>().ToArray());
        Assert.Equal(values, hessian.ToTensor().data<double>().ToArray());
        Tensor single = hessian.ToTensor(ScalarType.Float32, rowsPerBlock);
        Assert.Equal(ScalarType.Float32, single.dtype);
        Assert.Equal(values.Select(v => (float)v).ToArray(), single.data<float>().ToArray());
        Assert.Throws<ArgumentException>(() => hessian.ToTensor(ScalarType.Float16, rowsPerBlock));
    }

    [Fact]
    public void Weighted_error_is_trace_of_delta_h_delta_transposed()
    {
        var h = new Hessian(2, [2, 1, 1, 3], 1);
        // Δ = W − Q = [[1, 0], [0, 2]] -> tr(Δ H Δᵀ) = 1·2·1 + 2·3·2 = 14
        double error = h.WeightedError([1f, 0f, 0f, 2f], [0f, 0f, 0f, 0f]);
        Assert.Equal(14, error, 12);
    }

    [Fact]
    public void Bad_inputs_are_rejected()
    {
        using var accumulator = new HessianAccumulator(2);
        Assert.Throws<InvalidOperationException>(() => accumulator.Build());
        Assert.Throws<ArgumentException>(() => accumulator.Add([1f, float.NaN], 1));
        Assert.Throws<ArgumentException>(() => accumulator.Add([1f, 2f, 3f], 1));
        Assert.Throws<ArgumentException>(() => new Hessian(2, [1, 2, 3], 1));
    }
}
