using RwkvQuant.Codebooks;
using RwkvQuant.Formats;
using RwkvQuant.Packing;
using RwkvQuant.Tests.Vector;
using RwkvQuant.Vector.KMeans;

namespace RwkvQuant.Tests.Codebooks;

public class CodebookOptimizerTests
{
    private const int Channels = 8 * 64 + 13; // a partial last group

    private static TensorData Vector(float[] values, string name = "blocks.0.att.x_k") =>
        TensorData.FromFloats(name, [1, 1, values.Length], values);

    /// <summary>Very uneven s_j: log-uniform over six decades, as E[x_j²] of real operands tends to be.</summary>
    private static float[] UnevenImportance(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)Math.Pow(10, -4 + 6 * random.NextDouble())).ToArray();
    }

    [Fact]
    public void Options_are_validated()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new CodebookOptimizerOptions { GroupSize = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new CodebookOptimizerOptions { Bits = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new CodebookOptimizerOptions { Bits = 9 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new CodebookOptimizerOptions { Iterations = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new CodebookOptimizerOptions { Initialization = (KMeansInitialization)9 });
        CodebookOptimizerOptions defaults = CodebookOptimizerOptions.Default;
        Assert.Equal((64, 3, 100, KMeansInitialization.Mahalanobis), (defaults.GroupSize, defaults.Bits, defaults.Iterations, defaults.Initialization));
        Assert.Equal("activation-weighted kmeans b3 g64", new ActivationWeightedCodebookOptimizer().Name);
        Assert.Equal("kmeans b2 g32", new UnweightedCodebookOptimizer(new CodebookOptimizerOptions { Bits = 2, GroupSize = 32 }).Name);
    }

    [Fact]
    public void Degenerate_importance_is_refused_naming_the_tensor()
    {
        var optimizer = new ActivationWeightedCodebookOptimizer();
        TensorData mu = Vector(VectorTestData.Gaussian(100, 1), "blocks.3.att.k_k");
        float[] zero = new float[100];
        float[] nan = Enumerable.Repeat(1f, 100).ToArray();
        nan[17] = float.NaN;
        float[] negative = Enumerable.Repeat(1f, 100).ToArray();
        negative[3] = -1;
        foreach (float[] bad in new[] { zero, nan, negative, new float[99] })
        {
            var error = Assert.Throws<ArgumentException>(() => optimizer.Quantize(mu, bad));
            Assert.Contains("blocks.3.att.k_k", error.Message, StringComparison.Ordinal);
        }
        float[] nonFinite = VectorTestData.Gaussian(100, 1);
        nonFinite[5] = float.PositiveInfinity;
        Assert.Contains("blocks.3.att.k_k", Assert.Throws<ArgumentException>(() =>
            new UnweightedCodebookOptimizer().Quantize(Vector(nonFinite, "blocks.3.att.k_k"), [])).Message, StringComparison.Ordinal);

        float[] someZero = Enumerable.Repeat(1f, 100).ToArray();
        Array.Clear(someZero, 0, 64); // a whole group that never matters is allowed
        QuantizedMultiplicationVector q = optimizer.Quantize(mu, someZero);
        Assert.Equal(100, q.Length);
        Assert.Empty(q.Notes);
        Assert.NotEmpty(optimizer.Quantize(mu, []).Notes);
    }

    [Theory]
    [InlineData(3, 64)]
    [InlineData(2, 32)]
    [InlineData(4, 100)]
    public void Codes_are_in_range_point_at_the_nearest_stored_centroid_and_the_bit_count_is_exact(int bits, int groupSize)
    {
        float[] values = VectorTestData.Gaussian(Channels, 7, 0.3);
        var options = new CodebookOptimizerOptions { Bits = bits, GroupSize = groupSize };
        QuantizedMultiplicationVector q = new ActivationWeightedCodebookOptimizer(options).Quantize(Vector(values), UnevenImportance(Channels, 2));

        int entries = 1 << bits, groups = (Channels + groupSize - 1) / groupSize;
        int[] codes = q.GetCodes();
        float[] codebooks = q.GetCodebooks();
        float[] dequantized = q.Dequantize();
        Assert.Equal(Channels, codes.Length);
        Assert.Equal(groups, q.CodebookCount);
        Assert.Equal(groups * entries, codebooks.Length);
        Assert.All(codes, c => Assert.InRange(c, 0, entries - 1));
        Assert.Equal(codes, BitPacking.Unpack(BitPacking.Pack(codes, bits), bits, Channels));
        Assert.Equal(q.PackedCodes.ToArray(), BitPacking.Pack(codes, bits));
        for (int j = 0; j < Channels; j++)
        {
            int g = j / groupSize;
            float stored = codebooks[g * entries + codes[j]];
            Assert.Equal(stored, dequantized[j]);
            for (int k = 0; k < entries; k++)
                Assert.True(Math.Abs(values[j] - stored) <= Math.Abs(values[j] - codebooks[g * entries + k]), $"channel {j} is not at its nearest stored centroid");
        }
        long expectedBits = 8 * ((Channels * (long)bits + 7) / 8) + groups * (8L * entries + 16);
        Assert.Equal(expectedBits, q.StoredBits);
        Assert.Equal((double)expectedBits / Channels, q.BitsPerWeight);
        Assert.Equal([1L, 1, Channels], q.ToTensorData().Shape);
        Assert.Equal(dequantized, q.ToTensorData().ToFloatArray());
    }

    [Fact]
    public void Default_bits_per_weight_is_three_plus_the_codebook_overhead()
    {
        QuantizedMultiplicationVector q = new UnweightedCodebookOptimizer().Quantize(TensorData.FromFloats("v", [512], VectorTestData.Gaussian(512, 3)), []);
        Assert.Equal(3 + 80.0 / 64, q.BitsPerWeight); // 3-bit codes + 8 int8 centroids and one FP16 scale per 64
        Assert.Equal("kmeans b3 g64 int8+f16", q.Scheme);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void Weighted_fit_has_the_lower_importance_weighted_error_when_importance_is_uneven(int seed)
    {
        float[] values = VectorTestData.Gaussian(Channels, 100 + seed, 0.5);
        float[] s = UnevenImportance(Channels, 200 + seed);
        double weighted = new ActivationWeightedCodebookOptimizer().Quantize(Vector(values), s).WeightedError(values, s);
        double unweighted = new UnweightedCodebookOptimizer().Quantize(Vector(values), s).WeightedError(values, s);
        Assert.True(weighted < unweighted, $"weighted {weighted} vs unweighted {unweighted}");
    }

    [Fact]
    public void Weighted_objective_never_increases_across_iterations()
    {
        float[] values = VectorTestData.Gaussian(Channels, 11, 0.5);
        float[] s = UnevenImportance(Channels, 12);
        foreach (KMeansInitialization initialization in Enum.GetValues<KMeansInitialization>())
        {
            KMeansResult[] fits = CodebookFitting.FitGroups(values, s, new CodebookOptimizerOptions { Initialization = initialization }, default);
            Assert.Equal((Channels + 63) / 64, fits.Length);
            foreach (KMeansResult fit in fits)
            {
                for (int i = 1; i < fit.Objectives.Length; i++)
                    Assert.True(fit.Objectives[i] <= fit.Objectives[i - 1] * (1 + 1e-12), $"J rose at step {i}: {fit.Objectives[i - 1]} -> {fit.Objectives[i]}");
            }
            Assert.Contains(fits, f => f.Objective < f.Objectives[0]);
        }
    }

    [Fact]
    public void Warm_started_weighted_fit_is_never_worse_than_the_unweighted_fit_before_rounding()
    {
        float[] values = VectorTestData.Gaussian(Channels, 31, 0.5);
        float[] s = UnevenImportance(Channels, 32);
        KMeansResult[] weighted = CodebookFitting.FitGroups(values, s, CodebookOptimizerOptions.Default, default);
        KMeansResult[] unweighted = CodebookFitting.FitGroups(values, [], CodebookOptimizerOptions.Default, default);
        for (int g = 0; g < weighted.Length; g++)
        {
            int start = g * 64, n = Math.Min(64, Channels - start);
            double reference = KMeans.Assign(values.AsSpan(start, n), 1, unweighted[g].Centroids, 8, s.AsSpan(start, n), new int[n], new double[n], out _);
            Assert.Equal(reference, weighted[g].Objectives[0], 1e-12 * reference); // it starts where the unweighted fit ended
            Assert.True(weighted[g].Objective <= reference, $"group {g}: {weighted[g].Objective} > {reference}");
        }
        KMeansResult plain = KMeans.Fit(values.AsSpan(0, 64), 1, 8, s.AsSpan(0, 64), KMeansInitialization.Mahalanobis, 100, 0, 0);
        KMeansResult restarted = KMeans.FitFrom(values.AsSpan(0, 64), 1, KMeans.InitializeMahalanobis(values.AsSpan(0, 64), 1, 8), s.AsSpan(0, 64), 100, 0);
        Assert.Equal(plain.Centroids, restarted.Centroids);
        Assert.Equal(plain.Objectives, restarted.Objectives);
    }

    [Fact]
    public void Groups_with_at_most_eight_distinct_values_are_exact_up_to_int8_rounding()
    {
        float[] levels = [-0.9f, -0.31f, -0.05f, 0f, 0.02f, 0.4f, 0.41f, 1.3f];
        var random = new Random(5);
        float[] values = new float[64 + 64 + 5];
        for (int j = 0; j < 64; j++)
            values[j] = levels[random.Next(levels.Length)];
        for (int j = 64; j < 128; j++)
            values[j] = levels[random.Next(3)] * 0.01f; // three distinct values
        for (int j = 128; j < values.Length; j++)
            values[j] = levels[5 + random.Next(3)];      // a partial group with three distinct values
        float[] s = UnevenImportance(values.Length, 6);
        foreach (ICodebookOptimizer optimizer in new ICodebookOptimizer[] { new ActivationWeightedCodebookOptimizer(), new UnweightedCodebookOptimizer() })
        {
            float[] q = optimizer.Quantize(Vector(values), s).Dequantize();
            for (int j = 0; j < values.Length; j++)
            {
                int start = j / 64 * 64;
                float largest = values.Skip(start).Take(64).Max(Math.Abs);
                Assert.True(Math.Abs(q[j] - values[j]) <= 0.51 * largest / 127, $"{optimizer.Name}: channel {j}: {values[j]} -> {q[j]}");
            }
        }
    }

    [Fact]
    public void Results_are_deterministic_for_a_seed()
    {
        float[] values = VectorTestData.Gaussian(Channels, 21, 0.5);
        float[] s = UnevenImportance(Channels, 22);
        foreach (KMeansInitialization initialization in Enum.GetValues<KMeansInitialization>())
        {
            var options = new CodebookOptimizerOptions { Initialization = initialization, Seed = 9 };
            QuantizedMultiplicationVector a = new ActivationWeightedCodebookOptimizer(options).Quantize(Vector(values), s);
            QuantizedMultiplicationVector b = new ActivationWeightedCodebookOptimizer(options).Quantize(Vector(values), s);
            Assert.Equal(a.GetCodes(), b.GetCodes());
            Assert.Equal(a.GetCodebooks(), b.GetCodebooks());
        }
    }

    [Fact]
    public void Cancellation_is_honoured()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Throws<OperationCanceledException>(() =>
            new ActivationWeightedCodebookOptimizer().Quantize(Vector(VectorTestData.Gaussian(Channels, 1)), UnevenImportance(Channels, 1), cancelled.Token));
    }
}
