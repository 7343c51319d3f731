using RwkvQuant.Formats;
using RwkvQuant.Proxy;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar.Rtn;
using RwkvQuant.Tests.Vector;
using RwkvQuant.Vector.KMeans;

namespace RwkvQuant.Tests.Proxy;

/// <summary>The oracle selector: quantize both ways, keep the lower Hessian-weighted error.</summary>
public class OracleSelectorTests
{
    private const int Rows = 8, Columns = 64;

    // RTN a3 g64 and k-means d1 b3 with one 8-entry codebook per 2 × 32 weights: the paper's SQ and VQ shapes.
    private static readonly OracleSelector Oracle = new(new RoundToNearestQuantizer(), new KMeansVectorQuantizer());

    private static readonly Hessian H = VectorTestData.CorrelatedHessian(Columns, 256, 11);

    private static TensorData FromLevels(double[] levels, int seed)
    {
        var random = new Random(seed);
        var values = new float[Rows * Columns];
        for (int i = 0; i < values.Length; i++)
            values[i] = (float)levels[i % levels.Length == 0 ? i / levels.Length % levels.Length : random.Next(levels.Length)];
        new Random(seed + 1).Shuffle(values);
        return TensorData.FromFloats("blocks.0.att.key.weight", [Rows, Columns], values);
    }

    [Fact]
    public void Weights_clustered_at_eight_uneven_values_go_to_vector_quantization()
    {
        // Eight clusters bunched in three places: a codebook holds them exactly, a uniform 3-bit grid cannot.
        TensorData weight = FromLevels([-0.10, -0.097, -0.094, 0.0, 0.002, 0.004, 0.095, 0.1], 1);
        OracleComparison result = Oracle.Compare(weight, H);
        Assert.True(result.VectorError * 10 < result.ScalarError, $"VQ {result.VectorError} vs SQ {result.ScalarError}");
        Assert.Equal(QuantizationChoice.Vector, result.Choice);
        Assert.Same(result.Vector, result.Chosen);
        Assert.Equal(QuantizationChoice.Vector, Oracle.Choose(weight, H).Choice);
    }

    [Fact]
    public void Weights_on_an_even_grid_go_to_scalar_quantization()
    {
        // Every value on the 3-bit grid −0.5 + k/8 (exact in FP16): RTN reproduces them exactly, the int8 codebook cannot.
        TensorData weight = FromLevels([.. Enumerable.Range(0, 8).Select(k => -0.5 + k / 8.0)], 2);
        OracleComparison result = Oracle.Compare(weight, H);
        Assert.Equal(0, result.ScalarError);
        Assert.True(result.VectorError > 0);
        Assert.Equal(QuantizationChoice.Scalar, result.Choice);
        Assert.Equal(QuantizationChoice.Scalar, Oracle.Choose(weight, H).Choice);
    }

    [Fact]
    public void The_errors_are_the_hessian_weighted_errors_of_the_two_results()
    {
        TensorData weight = VectorTestData.Weight(Rows, Columns, 3);
        OracleComparison result = Oracle.Compare(weight, H);
        float[] w = weight.ToFloatArray();
        Assert.Equal(H.WeightedError(w, result.Scalar.Dequantize()), result.ScalarError, 1e-12);
        Assert.Equal(H.WeightedError(w, result.Vector.Dequantize()), result.VectorError, 1e-12);
        Assert.Equal(result.VectorError < result.ScalarError ? QuantizationChoice.Vector : QuantizationChoice.Scalar, result.Choice);

        // Without a Hessian: the plain squared error (H = 2·I).
        OracleComparison plain = Oracle.Compare(weight);
        double squared = w.Zip(plain.Scalar.Dequantize(), (a, b) => ((double)a - b) * ((double)a - b)).Sum();
        Assert.Equal(2 * squared, plain.ScalarError, 1e-9);
    }

    [Fact]
    public void A_hessian_of_the_wrong_size_and_cancellation_are_reported()
    {
        TensorData weight = VectorTestData.Weight(Rows, Columns, 4);
        Assert.Throws<ArgumentException>(() => Oracle.Choose(weight, Hessian.Identity(Columns + 1)));
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => Oracle.Choose(weight, H, cancelled.Token));
        Assert.StartsWith("oracle (rtn a3 g64 | ", Oracle.Name, StringComparison.Ordinal);
    }
}
