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
