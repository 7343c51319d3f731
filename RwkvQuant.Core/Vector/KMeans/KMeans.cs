using RwkvQuant.Kernels.KMeans;

namespace RwkvQuant.Vector.KMeans;

/// <summary>
/// Weighted k-means (Lloyd's algorithm) on N points of dimension d, stored row-major <c>[N, d]</c>. Minimises
/// J = Σₙ Σⱼ wₙⱼ (xₙⱼ − c_{a(n), j})², where the weights are either absent (all 1), one per point (wₙⱼ = wₙ), or one per
/// point and dimension (a diagonal weighting per point, as GPTVQ's inverse-Hessian importance). The assignment step
/// gives each point the centroid of least weighted distance (ties to the lowest index; a per-point weight does not
/// change the choice, so it is left out of the comparison); the update step sets each centroid coordinate to the
/// weighted mean of its members. A centroid left without members moves onto the point farthest from its centroid
/// (ties to the lowest index), so results are deterministic. Reused by GPTVQ and the codebook optimizer.
/// </summary>
internal static partial class KMeans
{
    /// <summary>Fits <paramref name="clusters"/> centroids.</summary>
    /// <param name="points"><c>[N, d]</c> row-major.</param>
    /// <param name="dimension">d.</param>
    /// <param name="clusters">k (may exceed N; then centroids repeat).</param>
    /// <param name="weights">Empty, N values (per point) or N·d values (per point and dimension); all ≥ 0.</param>
    /// <param name="initialization">Starting centroids.</param>
    /// <param name="maxIterations">Cap on update steps.</param>
    /// <param name="tolerance">Stop when a step lowers J by at most this fraction of J.</param>
    /// <param name="seed">Seed of k-means++.</param>
    /// <param name="search">The assignment step's nearest-centroid search (see <see cref="Assign"/>); null for the CPU's.</param>
    public static KMeansResult Fit(ReadOnlySpan<float> points, int dimension, int clusters, ReadOnlySpan<float> weights,
        KMeansInitialization initialization, int maxIterations, double tolerance, ulong seed, ICentroidSearch? search = null)
    {
        Validate(points, dimension, clusters, weights);
        double[] centroids = initialization == KMeansInitialization.Mahalanobis
            ? InitializeMahalanobis(points, dimension, clusters)
            : InitializeKMeansPlusPlus(points, dimension, clusters, weights, seed);
        return FitFrom(points, dimension, centroids, weights, maxIterations, tolerance, search);
    }

    /// <summary>
    /// Runs Lloyd's algorithm from the given starting centroids (copied, not changed), e.g. to refine another fit's
    /// codebook under new weights; the first objective is the starting centroids' own.
    /// </summary>
    /// <param name="points"><c>[N, d]</c> row-major.</param>
    /// <param name="dimension">d.</param>
    /// <param name="start">The starting centroids <c>[k, d]</c> row-major.</param>
    /// <param name="weights">Empty, N values (per point) or N·d values (per point and dimension); all ≥ 0.</param>
    /// <param name="maxIterations">Cap on update steps.</param>
    /// <param name="tolerance">Stop when a step lowers J by at most this fraction of J.</param>
    /// <param name="search">The assignment step's nearest-centroid search (see <see cref="Assign"/>); null for the CPU's.</param>
    public static KMeansResult FitFrom(ReadOnlySpan<float> points, int dimension, ReadOnlySpan<double> start, ReadOnlySpan<float> weights,
        int maxIterations, double tolerance, ICentroidSearch? search = null)
    {
        if (start.Length == 0 || start.Length % dimension != 0)
            throw new ArgumentException($"{start.Length} values do not form a non-empty set of {dimension}-dimensional centroids.", nameof(start));
        int clusters = start.Length / dimension;
        int n = Validate(points, dimension, clusters, weights);
        double[] centroids = start.ToArray();
        var assignments = new int[n];
        Array.Fill(assignments, -1);
        var distances = new double[n];
        var objectives = new List<double>();
        double objective = Assign(points, dimension, centroids, clusters, weights, assignments, distances, out _, search);
        objectives.Add(objective);
        int iterations = 0;
        bool converged = false;
        while (iterations < maxIterations)
        {
            Update(points, dimension, centroids, clusters, weights, assignments, distances);
            iterations++;
            double previous = objective;
            objective = Assign(points, dimension, centroids, clusters, weights, assignments, distances, out int changes, search);
            objectives.Add(objective);
            if (changes == 0)
            {
                converged = true;
                break;
            }
            if (previous - objective <= tolerance * previous)
                break;
        }
        return new KMeansResult(centroids, assignments, objectives.ToArray(), iterations, converged);
    }

    private static int Validate(ReadOnlySpan<float> points, int dimension, int clusters, ReadOnlySpan<float> weights)
    {
        if (dimension < 1 || points.Length == 0 || points.Length % dimension != 0)
            throw new ArgumentException($"{points.Length} values do not form a non-empty set of {dimension}-dimensional points.", nameof(points));
        ArgumentOutOfRangeException.ThrowIfLessThan(clusters, 1);
        int n = points.Length / dimension;
        if (weights.Length != 0 && weights.Length != n && weights.Length != points.Length)
            throw new ArgumentException($"Weights must be empty, one per point ({n}) or one per point and dimension ({points.Length}); got {weights.Length}.", nameof(weights));
        foreach (float weight in weights)
        {
            if (!(weight >= 0) || float.IsInfinity(weight))
                throw new ArgumentException("Weights must be finite and non-negative.", nameof(weights));
        }
        return n;
    }

    private static void Update(ReadOnlySpan<float> points, int dimension, double[] centroids, int clusters,
        ReadOnlySpan<float> weights, int[] assignments, double[] distances)
    {
        var sums = new double[clusters * dimension];
        var masses = new double[clusters * dimension];
        var members = new int[clusters];
        for (int i = 0; i < assignments.Length; i++)
        {
            int c = assignments[i];
            members[c]++;
            for (int j = 0; j < dimension; j++)
            {
                double w = Weight(weights, points.Length, i, j, dimension);
                sums[c * dimension + j] += w * points[i * dimension + j];
                masses[c * dimension + j] += w;
            }
        }
        for (int c = 0; c < clusters; c++)
        {
            if (members[c] == 0)
            {
                // Move an empty centroid onto the point that its centroid serves worst; that point will not be taken twice.
                int farthest = 0;
                for (int i = 1; i < distances.Length; i++)
                {
                    if (distances[i] > distances[farthest])
                        farthest = i;
                }
                distances[farthest] = -1;
                for (int j = 0; j < dimension; j++)
                    centroids[c * dimension + j] = points[farthest * dimension + j];
                continue;
            }
            for (int j = 0; j < dimension; j++)
            {
                // A coordinate whose members all weigh zero keeps its value: any value gives the same J.
                if (masses[c * dimension + j] > 0)
                    centroids[c * dimension + j] = sums[c * dimension + j] / masses[c * dimension + j];
            }
        }
    }

    private static double Square(double value) => value * value;

    /// <summary>wₙⱼ: 1 without weights, the per-dimension weight when there are N·d of them (d &gt; 1), else the point's.</summary>
    private static float Weight(ReadOnlySpan<float> weights, int valueCount, int point, int j, int dimension) =>
        weights.Length == 0 ? 1f : dimension > 1 && weights.Length == valueCount ? weights[point * dimension + j] : weights[point];

    private static double PointWeight(ReadOnlySpan<float> weights, int point, int dimension) =>
        weights.Length == 0 ? 1.0 : weights[point];

    private static double WeightedDistance(ReadOnlySpan<float> points, int i, int dimension, double[] centroids, int c, ReadOnlySpan<float> weights)
    {
        double distance = 0;
        for (int j = 0; j < dimension; j++)
        {
            double difference = points[i * dimension + j] - centroids[c * dimension + j];
            distance += Weight(weights, points.Length, i, j, dimension) * difference * difference;
        }
        return distance;
    }
}
