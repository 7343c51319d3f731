using BenchmarkDotNet.Attributes;
using RwkvQuant.Vector.KMeans;

namespace RwkvQuant.Benchmarks.Vector;

/// <summary>
/// k-means on one million Gaussian points: one assignment step by the plain scan over all centroids (the baseline)
/// against the dispatching assignment (binary search among sorted centroids for d = 1, the scan for d = 2), and a
/// whole Mahalanobis-initialised fit capped at <see cref="FitIterations"/> Lloyd iterations.
/// Distance evaluations per second of the scan = points · centroids / time.
/// </summary>
[MemoryDiagnoser]
public class KMeansBenchmarks
{
    private const int Points = 1_000_000;

    /// <summary>Lloyd iterations of the <see cref="Fit"/> benchmark.</summary>
    public const int FitIterations = 20;

    private float[] _points = [];
    private double[] _centroids = [];
    private int[] _assignments = [];
    private double[] _distances = [];

    /// <summary>Vector dimension d.</summary>
    [Params(1, 2)]
    public int Dimension { get; set; }

    /// <summary>Number of centroids k.</summary>
    [Params(8, 16)]
    public int Centroids { get; set; }

    /// <summary>Builds the points and a starting codebook.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        _points = new float[Points * Dimension];
        for (int i = 0; i < _points.Length; i++)
            _points[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        _centroids = KMeans.InitializeMahalanobis(_points, Dimension, Centroids);
        _assignments = new int[Points];
        _distances = new double[Points];
    }

    /// <summary>One assignment step, every point against every centroid.</summary>
    [Benchmark(Baseline = true)]
    public double AssignNaive() =>
        KMeans.AssignNaive(_points, Dimension, _centroids, Centroids, [], _assignments, _distances, out _);

    /// <summary>One assignment step as k-means runs it (sorted search for d = 1).</summary>
    [Benchmark]
    public double Assign() =>
        KMeans.Assign(_points, Dimension, _centroids, Centroids, [], _assignments, _distances, out _);

    /// <summary>A full fit: Mahalanobis initialisation and up to <see cref="FitIterations"/> Lloyd iterations.</summary>
    [Benchmark]
    public double Fit() =>
        KMeans.Fit(_points, Dimension, Centroids, [], KMeansInitialization.Mahalanobis, FitIterations, 0, 0).Objective;
}
