using RwkvQuant.Vector;
using RwkvQuant.Vector.KMeans;

namespace RwkvQuant.Tests.Vector.KMeans;

using KMeans = RwkvQuant.Vector.KMeans.KMeans; // inside the namespace, where the name would otherwise find this namespace

public class KMeansTests
{
    [Fact]
    public void Options_are_validated()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new KMeansOptions { Dimension = 3 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new KMeansOptions { Bits = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new KMeansOptions { Bits = 13 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new KMeansOptions { GroupRows = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new KMeansOptions { GroupColumns = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new KMeansOptions { MaxIterations = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new KMeansOptions { Tolerance = 1 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new KMeansOptions { Tolerance = double.NaN });
        Assert.Throws<ArgumentOutOfRangeException>(() => new KMeansOptions { Initialization = (KMeansInitialization)7 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new KMeansOptions { CodebookPrecision = (CodebookPrecision)7 });
        Assert.Throws<ArgumentException>(() => new KMeansVectorQuantizer(new KMeansOptions { Dimension = 4, GroupColumns = 6 }));
        KMeansOptions defaults = KMeansOptions.Default;
        Assert.Equal((1, 3, 2, 32, 100), (defaults.Dimension, defaults.Bits, defaults.GroupRows, defaults.GroupColumns, defaults.MaxIterations));
    }

    [Theory]
    [InlineData(1, 8, KMeansInitialization.Mahalanobis, false)]
    [InlineData(2, 16, KMeansInitialization.KMeansPlusPlus, true)]
    [InlineData(4, 8, KMeansInitialization.Mahalanobis, true)]
    [InlineData(1, 16, KMeansInitialization.KMeansPlusPlus, true)]
    public void Objective_never_increases(int dimension, int clusters, KMeansInitialization initialization, bool weighted)
    {
        const int points = 997;
        float[] data = VectorTestData.Gaussian(points * dimension, 11 + dimension);
        float[] weights = weighted ? Array.ConvertAll(VectorTestData.Gaussian(points * dimension, 5), w => Math.Abs(w)) : [];
        KMeansResult result = KMeans.Fit(data, dimension, clusters, weights, initialization, 100, 0, 3);
        Assert.True(result.Objectives.Length >= 3);
        for (int i = 1; i < result.Objectives.Length; i++)
            Assert.True(result.Objectives[i] <= result.Objectives[i - 1] * (1 + 1e-12), $"J rose at step {i}: {result.Objectives[i - 1]} -> {result.Objectives[i]}");
        Assert.True(result.Objective < result.Objectives[0]);
        Assert.All(result.Assignments, a => Assert.InRange(a, 0, clusters - 1));
    }

    [Fact]
    public void Mahalanobis_init_takes_evenly_spaced_distance_ranks_for_d1()
    {
        // mean 0.4: by |x − 0.4| the order is 0, −1, 2, −3, 4; k = 3 takes ranks 0, 2, 4.
        float[] points = [4f, -1f, 0f, 2f, -3f];
        double[] centroids = KMeans.InitializeMahalanobis(points, 1, 3);
        Assert.Equal([0.0, 2.0, 4.0], centroids);
        Assert.Equal(centroids, KMeans.InitializeMahalanobis(points, 1, 3));
    }

    [Fact]
    public void Mahalanobis_init_is_deterministic_for_d2()
    {
        float[] points = VectorTestData.Gaussian(2 * 301, 9);
        Assert.Equal(KMeans.InitializeMahalanobis(points, 2, 16), KMeans.InitializeMahalanobis(points, 2, 16));
        KMeansResult a = KMeans.Fit(points, 2, 16, [], KMeansInitialization.Mahalanobis, 100, 0, 1);
        KMeansResult b = KMeans.Fit(points, 2, 16, [], KMeansInitialization.Mahalanobis, 100, 0, 99);
        Assert.Equal(a.Centroids, b.Centroids);
    }

    [Fact]
    public void KMeansPlusPlus_is_deterministic_for_a_seed()
    {
        float[] points = VectorTestData.Gaussian(2 * 513, 4);
        Assert.Equal(KMeans.InitializeKMeansPlusPlus(points, 2, 8, [], 42), KMeans.InitializeKMeansPlusPlus(points, 2, 8, [], 42));
        Assert.NotEqual(KMeans.InitializeKMeansPlusPlus(points, 2, 8, [], 42), KMeans.InitializeKMeansPlusPlus(points, 2, 8, [], 43));
        KMeansResult a = KMeans.Fit(points, 2, 8, [], KMeansInitialization.KMeansPlusPlus, 50, 0, 42);
        KMeansResult b = KMeans.Fit(points, 2, 8, [], KMeansInitialization.KMeansPlusPlus, 50, 0, 42);
        Assert.Equal(a.Centroids, b.Centroids);
        Assert.Equal(a.Assignments, b.Assignments);
    }

    [Fact]
    public void Empty_clusters_are_refilled_deterministically()
    {
        // Three distinct values but eight clusters: duplicates, no exception, every point at distance 0.
        float[] points = [1f, 1f, 1f, 5f, 5f, 9f];
        KMeansResult result = KMeans.Fit(points, 1, 8, [], KMeansInitialization.Mahalanobis, 100, 0, 0);
        Assert.Equal(0, result.Objective);
        Assert.Equal(result.Centroids, KMeans.Fit(points, 1, 8, [], KMeansInitialization.Mahalanobis, 100, 0, 0).Centroids);
    }

    [Fact]
    public void Sorted_scalar_assignment_equals_the_naive_scan()
    {
        var random = new Random(17);
        for (int trial = 0; trial < 50; trial++)
        {
            int clusters = 1 + random.Next(20), n = 1 + random.Next(300);
            // Coarse values make exact ties and duplicate centroids common.
            float[] points = Enumerable.Range(0, n).Select(_ => random.Next(-8, 9) * 0.5f).ToArray();
            double[] centroids = Enumerable.Range(0, clusters).Select(_ => random.Next(-6, 7) * 0.75).ToArray();
            float[] weights = trial % 2 == 0 ? [] : Enumerable.Range(0, n).Select(_ => (float)random.NextDouble()).ToArray();
            int[] fast = new int[n], naive = new int[n];
            double[] fastDistances = new double[n], naiveDistances = new double[n];
            double a = KMeans.AssignScalar(points, centroids, clusters, weights, fast, fastDistances, out _);
            double b = KMeans.AssignNaive(points, 1, centroids, clusters, weights, naive, naiveDistances, out _);
            Assert.Equal(naive, fast);
            Assert.Equal(naiveDistances, fastDistances);
            Assert.Equal(b, a);
        }
    }

    [Fact]
    public void Per_dimension_weights_shape_the_weighted_means()
    {
        // One cluster: each coordinate is the weighted mean of its dimension.
        float[] points = [0f, 0f, 2f, 4f];
        float[] weights = [1f, 3f, 3f, 1f];
        KMeansResult result = KMeans.Fit(points, 2, 1, weights, KMeansInitialization.Mahalanobis, 10, 0, 0);
        Assert.Equal(1.5, result.Centroids[0], 12);
        Assert.Equal(1.0, result.Centroids[1], 12);
    }
}
