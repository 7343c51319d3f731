using System.Runtime.Intrinsics;

namespace RwkvQuant.Kernels.KMeans;

/// <summary>
/// The fast CPU nearest-centroid search: four points at a time in the lanes of a <see cref="Vector256{T}"/> of doubles
/// (d = 1, 2 and 4; other dimensions and the last n mod 4 points take the reference loop), each centroid broadcast and
/// compared against all four, and blocks of points on several threads when the call is large enough to pay for them.
/// Lanes compute exactly the reference's expression (a plain distance is the weighted one with weights 1, and
/// 1·x = x exactly) and keep a centroid only when strictly nearer, so indices, ties and distances are bit-identical to
/// <see cref="CentroidSearchReference"/>.
/// </summary>
public sealed unsafe class CentroidSearchCpu : ICentroidSearch
{
    /// <summary>Distance evaluations (n·k) from which blocks of points run on several threads.</summary>
    internal const long ParallelThreshold = 1 << 18;

    private const int Lanes = 4;

    /// <summary>The one instance (stateless).</summary>
    public static CentroidSearchCpu Instance { get; } = new();

    private CentroidSearchCpu()
    {
    }

    /// <inheritdoc />
    public void Search(ReadOnlySpan<float> points, int dimension, ReadOnlySpan<double> centroids, ReadOnlySpan<float> weights,
        Span<int> nearest, Span<double> distances)
    {
        (int n, int k) = CentroidSearchShape.Validate(points.Length, dimension, centroids.Length, weights.Length, nearest.Length, distances.Length);
        if (n == 0)
            return;
        fixed (float* p = points, w = weights)
        fixed (double* c = centroids, best = distances)
        fixed (int* index = nearest)
        {
            var a = new Arguments(p, dimension, n, c, k, weights.IsEmpty ? null : w, index, best);
            if ((long)n * k >= ParallelThreshold && Environment.ProcessorCount > 1)
                SearchParallel(a);
            else
                SearchRange(a, 0, n);
        }
    }

    /// <summary>Blocks of points (multiples of four) on the thread pool; its own method, so small calls allocate no closure.</summary>
    private static void SearchParallel(Arguments a)
    {
        int n = a.Count;
        int blocks = Math.Min(Environment.ProcessorCount * 4, (n + 4095) / 4096);
        int size = ((n + blocks - 1) / blocks + Lanes - 1) / Lanes * Lanes;
        Parallel.For(0, (n + size - 1) / size, b => SearchRange(a, b * size, Math.Min(n, (b + 1) * size)));
    }

    private static void SearchRange(Arguments a, int start, int end)
    {
        int i = start;
        if (Vector256.IsHardwareAccelerated)
        {
            switch (a.Dimension)
            {
                case 1:
                    for (; i + Lanes <= end; i += Lanes)
                        Block1(a, i);
                    break;
                case 2:
                    for (; i + Lanes <= end; i += Lanes)
                        Block2(a, i);
                    break;
                case 4:
                    for (; i + Lanes <= end; i += Lanes)
                        Block4(a, i);
                    break;
            }
        }
        if (i < end)
        {
            var points = new ReadOnlySpan<float>(a.Points, a.Count * a.Dimension);
            var centroids = new ReadOnlySpan<double>(a.Centroids, a.Clusters * a.Dimension);
            ReadOnlySpan<float> weights = a.Weights is null ? [] : new ReadOnlySpan<float>(a.Weights, a.Count * a.Dimension);
            CentroidSearchReference.SearchRange(points, a.Dimension, centroids, weights,
                new Span<int>(a.Nearest, a.Count), new Span<double>(a.Distances, a.Count), i, end);
        }
    }

    /// <summary>Coordinate j of points i … i+3 (widened), or their weight, as one vector.</summary>
    private static Vector256<double> Gather(float* values, int i, int dimension, int j) =>
        Vector256.Create(values[i * dimension + j], values[(i + 1) * dimension + j], values[(i + 2) * dimension + j],
            (double)values[(i + 3) * dimension + j]);

    private static Vector256<double> WeightOf(Arguments a, int i, int j) =>
        a.Weights is null ? Vector256<double>.One : Gather(a.Weights, i, a.Dimension, j);

    private static void Block1(Arguments a, int i)
    {
        Vector256<double> x0 = Gather(a.Points, i, 1, 0), w0 = WeightOf(a, i, 0);
        Vector256<double> best = Vector256.Create(double.PositiveInfinity);
        Vector256<long> bestIndex = Vector256<long>.Zero;
        double* c = a.Centroids;
        for (long q = 0; q < a.Clusters; q++, c++)
        {
            Vector256<double> d0 = x0 - Vector256.Create(c[0]);
            Vector256<double> distance = Vector256<double>.Zero + w0 * (d0 * d0);
            Vector256<double> nearer = Vector256.LessThan(distance, best);
            best = Vector256.ConditionalSelect(nearer, distance, best);
            bestIndex = Vector256.ConditionalSelect(nearer.AsInt64(), Vector256.Create(q), bestIndex);
        }
        Store(a, i, best, bestIndex);
    }

    private static void Block2(Arguments a, int i)
    {
        Vector256<double> x0 = Gather(a.Points, i, 2, 0), x1 = Gather(a.Points, i, 2, 1);
        Vector256<double> w0 = WeightOf(a, i, 0), w1 = WeightOf(a, i, 1);
        Vector256<double> best = Vector256.Create(double.PositiveInfinity);
        Vector256<long> bestIndex = Vector256<long>.Zero;
        double* c = a.Centroids;
        for (long q = 0; q < a.Clusters; q++, c += 2)
        {
            Vector256<double> d0 = x0 - Vector256.Create(c[0]), d1 = x1 - Vector256.Create(c[1]);
            Vector256<double> distance = Vector256<double>.Zero + w0 * (d0 * d0);
            distance += w1 * (d1 * d1);
            Vector256<double> nearer = Vector256.LessThan(distance, best);
            best = Vector256.ConditionalSelect(nearer, distance, best);
            bestIndex = Vector256.ConditionalSelect(nearer.AsInt64(), Vector256.Create(q), bestIndex);
        }
        Store(a, i, best, bestIndex);
    }

    private static void Block4(Arguments a, int i)
    {
        Vector256<double> x0 = Gather(a.Points, i, 4, 0), x1 = Gather(a.Points, i, 4, 1);
        Vector256<double> x2 = Gather(a.Points, i, 4, 2), x3 = Gather(a.Points, i, 4, 3);
        Vector256<double> w0 = WeightOf(a, i, 0), w1 = WeightOf(a, i, 1), w2 = WeightOf(a, i, 2), w3 = WeightOf(a, i, 3);
        Vector256<double> best = Vector256.Create(double.PositiveInfinity);
        Vector256<long> bestIndex = Vector256<long>.Zero;
        double* c = a.Centroids;
        for (long q = 0; q < a.Clusters; q++, c += 4)
        {
            Vector256<double> d0 = x0 - Vector256.Create(c[0]), d1 = x1 - Vector256.Create(c[1]);
            Vector256<double> d2 = x2 - Vector256.Create(c[2]), d3 = x3 - Vector256.Create(c[3]);
            Vector256<double> distance = Vector256<double>.Zero + w0 * (d0 * d0);
            distance += w1 * (d1 * d1);
            distance += w2 * (d2 * d2);
            distance += w3 * (d3 * d3);
            Vector256<double> nearer = Vector256.LessThan(distance, best);
            best = Vector256.ConditionalSelect(nearer, distance, best);
            bestIndex = Vector256.ConditionalSelect(nearer.AsInt64(), Vector256.Create(q), bestIndex);
        }
        Store(a, i, best, bestIndex);
    }

    private static void Store(Arguments a, int i, Vector256<double> best, Vector256<long> bestIndex)
    {
        best.Store(a.Distances + i);
        for (int lane = 0; lane < Lanes; lane++)
            a.Nearest[i + lane] = (int)bestIndex.GetElement(lane);
    }

    /// <summary>The pinned arguments, shared by the workers. <see cref="Weights"/> is null for the plain distance.</summary>
    private readonly struct Arguments(float* points, int dimension, int count, double* centroids, int clusters, float* weights,
        int* nearest, double* distances)
    {
        public readonly float* Points = points;
        public readonly int Dimension = dimension, Count = count, Clusters = clusters;
        public readonly double* Centroids = centroids;
        public readonly float* Weights = weights;
        public readonly int* Nearest = nearest;
        public readonly double* Distances = distances;
    }
}
