using RwkvQuant.Formats;
using RwkvQuant.Kernels.KMeans;
using RwkvQuant.Tests.Kernels.Wkv;
using RwkvQuant.Tests.Vector;
using RwkvQuant.Vector;
using RwkvQuant.Vector.KMeans;
using KMeansAlgorithm = RwkvQuant.Vector.KMeans.KMeans;

namespace RwkvQuant.Tests.Kernels.KMeans;

/// <summary>
/// The nearest-centroid searches (reference, SIMD CPU, ILGPU on its CPU accelerator) agree bit for bit, ties to the
/// lowest index included, and k-means through them is bit-identical to its reference assignment.
/// </summary>
public sealed class CentroidSearchTests(IlgpuCpuFixture fixture) : IClassFixture<IlgpuCpuFixture>
{
    public static TheoryData<int, int, int, bool> Cases => new()
    {
        { 1, 1, 1, false }, { 7, 1, 5, false }, { 37, 2, 8, true }, { 1001, 4, 16, true }, { 1001, 1, 257, true },
        { 13, 3, 6, true }, { 3, 2, 1, false }, { 515, 2, 256, false }, { 100_003, 2, 16, true },
    };

    private IEnumerable<(string Name, ICentroidSearch Search)> FastSearches() =>
        [("simd", CentroidSearchCpu.Instance), ("ilgpu", CentroidSearchLauncher.For(fixture.Accelerator))];

    private static (float[] Points, double[] Centroids, float[] Weights) Random(int n, int d, int k, int seed, bool grid)
    {
        var random = new Random(seed);
        // On a grid of halves, many points sit exactly between centroids or on duplicated centroids: ties everywhere.
        float Value() => grid ? random.Next(-4, 5) * 0.5f : (float)(random.NextDouble() * 4 - 2);
        float[] points = Enumerable.Range(0, n * d).Select(_ => Value()).ToArray();
        double[] centroids = Enumerable.Range(0, k * d).Select(_ => grid ? random.Next(-3, 4) * 1.0 : random.NextDouble() * 4 - 2).ToArray();
        float[] weights = Enumerable.Range(0, n * d).Select(_ => random.Next(4) == 0 ? 0f : grid ? random.Next(1, 3) : (float)random.NextDouble()).ToArray();
        return (points, centroids, weights);
    }

    private static (int[] Nearest, double[] Distances) Run(ICentroidSearch search, float[] points, int d, double[] centroids, float[] weights)
    {
        int n = points.Length / d;
        var nearest = new int[n];
        var distances = new double[n];
        search.Search(points, d, centroids, weights, nearest, distances);
        return (nearest, distances);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Simd_and_ilgpu_equal_the_reference_bit_for_bit_plain_and_weighted(int n, int d, int k, bool grid)
    {
        (float[] points, double[] centroids, float[] weights) = Random(n, d, k, n + d * 7 + k, grid);
        foreach (float[] w in new[] { [], weights })
        {
            (int[] nearest, double[] distances) = Run(CentroidSearchReference.Instance, points, d, centroids, w);
            foreach ((string name, ICentroidSearch search) in FastSearches())
            {
                (int[] fastNearest, double[] fastDistances) = Run(search, points, d, centroids, w);
                Assert.True(nearest.SequenceEqual(fastNearest), $"{name}: indices differ (weighted: {w.Length > 0}).");
                Assert.True(distances.SequenceEqual(fastDistances), $"{name}: distances differ (weighted: {w.Length > 0}).");
            }
        }
    }

    [Fact]
    public void Ties_go_to_the_lowest_index_and_the_reference_takes_the_true_minimum()
    {
        // Centroids 0: (1, 0), 1: (−1, 0), 2: (1, 0) again, 3: (0, 2). Point (0, 0) is 1 from centroids 0, 1 and 2.
        double[] centroids = [1, 0, -1, 0, 1, 0, 0, 2];
        float[] points = [0, 0, 0.9f, 0, -3, 0, 0, 1, 0, 5];
        float[] weights = [1, 1, 1, 1, 1, 1, 0, 0, 1, 1]; // point 3 weighs nothing: every centroid is at distance 0
        foreach ((string name, ICentroidSearch search) in FastSearches().Prepend(("reference", CentroidSearchReference.Instance)))
        {
            (int[] nearest, double[] distances) = Run(search, points, 2, centroids, []);
            Assert.Equal([0, 0, 1, 3, 3], nearest);
            Assert.Equal(1.0, distances[0]);
            Assert.Equal(1.0, distances[3]); // (0, 1): 2 from centroids 0, 1 and 2, 1 from centroid 3
            (int[] weighted, _) = Run(search, points, 2, centroids, weights);
            Assert.True(weighted[3] == 0, $"{name}: a zero-weight point ties everywhere and takes centroid 0");
        }
    }

    [Fact]
    public async Task Ilgpu_results_survive_garbage_collections_during_the_host_copies()
    {
        // ILGPU's copies to and from host memory take a raw pointer: before the host spans were pinned, a collection
        // triggered by another thread's allocations moved the arrays mid-copy and whole results were lost (every index 0)
        // or the heap was corrupted. Under this allocation pressure the unpinned copies failed within a few hundred calls.
        (float[] points, double[] centroids, float[] weights) = Random(37, 2, 8, 11, grid: false);
        (int[] nearest, double[] distances) = Run(CentroidSearchReference.Instance, points, 2, centroids, weights);
        ICentroidSearch search = CentroidSearchLauncher.For(fixture.Accelerator);
        using var done = new CancellationTokenSource();
        var allocator = Task.Run(() =>
        {
            long sum = 0;
            while (!done.IsCancellationRequested)
                sum += new byte[8000].Length;
            return sum;
        });
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            for (int call = 0; call < 3000 && clock.ElapsedMilliseconds < 1500; call++)
            {
                (int[] fastNearest, double[] fastDistances) = Run(search, points, 2, centroids, weights);
                Assert.True(nearest.SequenceEqual(fastNearest) && distances.SequenceEqual(fastDistances), $"call {call}: results differ");
            }
        }
        finally
        {
            await done.CancelAsync();
            await allocator;
        }
    }

    [Fact]
    public void Arguments_are_checked()
    {
        ICentroidSearch[] searches = [CentroidSearchReference.Instance, CentroidSearchCpu.Instance, CentroidSearchLauncher.For(fixture.Accelerator)];
        foreach (ICentroidSearch search in searches)
        {
            Assert.Equal("points", Assert.Throws<ArgumentException>(() => search.Search(new float[5], 2, new double[4], [], new int[2], new double[2])).ParamName);
            Assert.Equal("centroids", Assert.Throws<ArgumentException>(() => search.Search(new float[4], 2, [], [], new int[2], new double[2])).ParamName);
            Assert.Equal("weights", Assert.Throws<ArgumentException>(() => search.Search(new float[4], 2, new double[4], new float[2], new int[2], new double[2])).ParamName);
            Assert.Equal("nearest", Assert.Throws<ArgumentException>(() => search.Search(new float[4], 2, new double[4], [], new int[3], new double[2])).ParamName);
            Assert.Equal("distances", Assert.Throws<ArgumentException>(() => search.Search(new float[4], 2, new double[4], [], new int[2], new double[1])).ParamName);
        }
    }

    [Theory]
    [InlineData(1, 8)]
    [InlineData(1, 64)]
    [InlineData(2, 16)]
    [InlineData(4, 8)]
    public void KMeans_assignment_through_every_search_equals_the_naive_assignment_bit_for_bit(int d, int k)
    {
        (float[] points, double[] centroids, float[] perDimension) = Random(999, d, k, 5 * d + k, grid: d == 2);
        float[] perPoint = perDimension.Take(999).ToArray();
        foreach (float[] weights in new[] { [], perPoint, perDimension })
        {
            var expected = new int[999];
            var expectedDistances = new double[999];
            double objective = KMeansAlgorithm.AssignNaive(points, d, centroids, k, weights, expected, expectedDistances, out _);
            foreach (ICentroidSearch? search in new ICentroidSearch?[] { null, CentroidSearchLauncher.For(fixture.Accelerator) })
            {
                var assignments = new int[999];
                Array.Fill(assignments, 1);
                var distances = new double[999];
                double actual = KMeansAlgorithm.Assign(points, d, centroids, k, weights, assignments, distances, out int changes, search);
                Assert.Equal(objective, actual);
                Assert.Equal(expected, assignments);
                Assert.Equal(expectedDistances, distances);
                Assert.Equal(expected.Count(a => a != 1), changes);
            }
        }
    }

    [Fact]
    public void KMeans_fit_and_the_quantizer_on_an_ilgpu_accelerator_equal_the_cpu_bit_for_bit()
    {
        float[] points = VectorTestData.Gaussian(2 * 301, seed: 3);
        float[] weights = points.Select(x => 0.5f + x * x).ToArray();
        KMeansResult cpu = KMeansAlgorithm.Fit(points, 2, 16, weights, KMeansInitialization.KMeansPlusPlus, 30, 0, 7);
        KMeansResult device = KMeansAlgorithm.Fit(points, 2, 16, weights, KMeansInitialization.KMeansPlusPlus, 30, 0, 7,
            CentroidSearchLauncher.For(fixture.Accelerator));
        Assert.Equal(cpu.Centroids, device.Centroids);
        Assert.Equal(cpu.Assignments, device.Assignments);
        Assert.Equal(cpu.Objectives, device.Objectives);

        TensorData weight = VectorTestData.Weight(9, 64, 11);
        var options = new KMeansOptions { Dimension = 2, Bits = 4, GroupRows = 3, GroupColumns = 32 };
        var plain = (VectorQuantizedTensor)new KMeansVectorQuantizer(options).Quantize(weight);
        var accelerated = (VectorQuantizedTensor)new KMeansVectorQuantizer(options with { SearchAccelerator = fixture.Accelerator }).Quantize(weight);
        Assert.Equal(plain.GetCodes(), accelerated.GetCodes());
        Assert.Equal(plain.Dequantize(), accelerated.Dequantize());
    }
}
