using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using RwkvQuant.Kernels.KMeans;
using KMeansAlgorithm = RwkvQuant.Vector.KMeans.KMeans;

namespace RwkvQuant.Benchmarks.Kernels.KMeans;

/// <summary>
/// Nearest-centroid search over one million uniform points: the reference scan (baseline), the SIMD CPU search, and
/// k-means' assignment step as it now runs (the SIMD search, or the sorted binary search for d = 1 with many centroids;
/// it also sums the objective). The <c>Dist/s</c> column is distance evaluations per second, n·k / t.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
public class CentroidSearchBenchmarks
{
    private const int Points = 1_000_000;

    private float[] _points = [];
    private double[] _centroids = [];
    private int[] _nearest = [];
    private double[] _distances = [];

    /// <summary>Vector dimension d.</summary>
    [Params(1, 2, 4)]
    public int Dimension { get; set; }

    /// <summary>Number of centroids k.</summary>
    [Params(8, 16, 256)]
    public int Centroids { get; set; }

    /// <summary>Builds points and centroids in [−1, 1).</summary>
    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        _points = new float[Points * Dimension];
        for (int i = 0; i < _points.Length; i++)
            _points[i] = (float)(random.NextDouble() * 2 - 1);
        _centroids = new double[Centroids * Dimension];
        for (int i = 0; i < _centroids.Length; i++)
            _centroids[i] = random.NextDouble() * 2 - 1;
        _nearest = new int[Points];
        _distances = new double[Points];
    }

    /// <summary>Every point against every centroid, one at a time.</summary>
    [Benchmark(Baseline = true)]
    public int Reference()
    {
        CentroidSearchReference.Instance.Search(_points, Dimension, _centroids, [], _nearest, _distances);
        return _nearest[^1];
    }

    /// <summary>Four points per Vector256 of doubles, blocks of points on all cores.</summary>
    [Benchmark]
    public int Simd()
    {
        CentroidSearchCpu.Instance.Search(_points, Dimension, _centroids, [], _nearest, _distances);
        return _nearest[^1];
    }

    /// <summary>k-means' assignment step with its default search.</summary>
    [Benchmark]
    public double KMeansAssign() =>
        KMeansAlgorithm.Assign(_points, Dimension, _centroids, Centroids, [], _nearest, _distances, out _);

    private sealed class ThroughputConfig : ManualConfig
    {
        public ThroughputConfig() => AddColumn(new WorkPerSecondColumn("Dist/s",
            c => Points * WorkPerSecondColumn.Parameter(c, nameof(Centroids))));
    }
}
