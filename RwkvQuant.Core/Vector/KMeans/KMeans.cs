using System.Buffers;
using RwkvQuant.Kernels.KMeans;

namespace RwkvQuant.Vector.KMeans;

/// <summary>The outcome of one k-means fit.</summary>
/// <param name="Centroids">The centroids <c>[k, d]</c> row-major.</param>
/// <param name="Assignments">Each point's nearest centroid under the final centroids.</param>
/// <param name="Objectives">The objective after the initial assignment and after every iteration's assignment step;
/// Lloyd's algorithm never lets it increase.</param>
/// <param name="Iterations">Update steps run.</param>
/// <param name="Converged">True when the last assignment step changed nothing.</param>
internal sealed record KMeansResult(double[] Centroids, int[] Assignments, double[] Objectives, int Iterations, bool Converged)
{
    /// <summary>The final objective.</summary>
    public double Objective => Objectives[^1];
}

/// <summary>
/// Weighted k-means (Lloyd's algorithm) on N points of dimension d, stored row-major <c>[N, d]</c>. Minimises
/// J = Σₙ Σⱼ wₙⱼ (xₙⱼ − c_{a(n), j})², where the weights are either absent (all 1), one per point (wₙⱼ = wₙ), or one per
/// point and dimension (a diagonal weighting per point, as GPTVQ's inverse-Hessian importance). The assignment step
/// gives each point the centroid of least weighted distance (ties to the lowest index; a per-point weight does not
/// change the choice, so it is left out of the comparison); the update step sets each centroid coordinate to the
/// weighted mean of its members. A centroid left without members moves onto the point farthest from its centroid
/// (ties to the lowest index), so results are deterministic. Reused by GPTVQ and the codebook optimizer.
/// </summary>
internal static class KMeans
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

    /// <summary>
    /// The assignment step: writes each point's nearest centroid into <paramref name="assignments"/> and its weighted
    /// distance into <paramref name="distances"/>; returns J and the number of changed assignments. Equal to the bit to
    /// <see cref="AssignNaive"/>. Without a <paramref name="search"/>, the CPU's SIMD search (<see cref="CentroidSearchCpu"/>)
    /// runs, or for d = 1 with more than <see cref="SortedSearchMinClusters"/> centroids the sorted search
    /// (<see cref="AssignScalar"/>); with one (e.g. an ILGPU accelerator's <see cref="CentroidSearchLauncher"/>), that.
    /// </summary>
    public static double Assign(ReadOnlySpan<float> points, int dimension, ReadOnlySpan<double> centroids, int clusters,
        ReadOnlySpan<float> weights, Span<int> assignments, Span<double> distances, out int changes, ICentroidSearch? search = null)
    {
        if (search is null && dimension == 1 && clusters > SortedSearchMinClusters)
            return AssignScalar(points, centroids, clusters, weights, assignments, distances, out changes);
        return AssignSearched(points, dimension, centroids, clusters, weights, assignments, distances, out changes,
            search ?? CentroidSearchCpu.Instance);
    }

    /// <summary>Above this many centroids, d = 1 assignment binary-searches sorted centroids rather than scanning them all.</summary>
    internal const int SortedSearchMinClusters = 32;

    /// <summary>
    /// The assignment step through a nearest-centroid search: per-dimension weights go to the search (weighted distance);
    /// a per-point weight does not change the choice, so the search runs unweighted and the distance is scaled after, as
    /// <see cref="AssignNaive"/> does.
    /// </summary>
    internal static double AssignSearched(ReadOnlySpan<float> points, int dimension, ReadOnlySpan<double> centroids, int clusters,
        ReadOnlySpan<float> weights, Span<int> assignments, Span<double> distances, out int changes, ICentroidSearch search)
    {
        int n = points.Length / dimension;
        bool perDimension = dimension > 1 && weights.Length == points.Length;
        int[] nearest = ArrayPool<int>.Shared.Rent(n);
        try
        {
            Span<double> best = distances[..n];
            search.Search(points, dimension, centroids[..(clusters * dimension)], perDimension ? weights : [], nearest.AsSpan(0, n), best);
            double objective = 0;
            changes = 0;
            for (int i = 0; i < n; i++)
                Record(i, nearest[i], perDimension ? best[i] : PointWeight(weights, i, dimension) * best[i], assignments, distances, ref objective, ref changes);
            return objective;
        }
        finally
        {
            ArrayPool<int>.Shared.Return(nearest);
        }
    }

    /// <summary>The reference assignment step: every point against every centroid.</summary>
    public static double AssignNaive(ReadOnlySpan<float> points, int dimension, ReadOnlySpan<double> centroids, int clusters,
        ReadOnlySpan<float> weights, Span<int> assignments, Span<double> distances, out int changes)
    {
        int n = points.Length / dimension;
        bool perDimension = dimension > 1 && weights.Length == points.Length;
        double objective = 0;
        changes = 0;
        for (int i = 0; i < n; i++)
        {
            ReadOnlySpan<float> x = points.Slice(i * dimension, dimension);
            double best = double.PositiveInfinity;
            int bestIndex = 0;
            for (int c = 0; c < clusters; c++)
            {
                double distance = 0;
                for (int j = 0; j < dimension; j++)
                {
                    double difference = x[j] - centroids[c * dimension + j];
                    distance += perDimension ? weights[i * dimension + j] * (difference * difference) : difference * difference;
                }
                if (distance < best)
                {
                    best = distance;
                    bestIndex = c;
                }
            }
            Record(i, bestIndex, perDimension ? best : PointWeight(weights, i, dimension) * best, assignments, distances, ref objective, ref changes);
        }
        return objective;
    }

    /// <summary>
    /// The assignment step for d = 1: centroids sorted once, each point binary-searched between its two neighbours
    /// (O(log k) instead of O(k)); equal to <see cref="AssignNaive"/> to the bit, ties included.
    /// </summary>
    public static double AssignScalar(ReadOnlySpan<float> points, ReadOnlySpan<double> centroids, int clusters,
        ReadOnlySpan<float> weights, Span<int> assignments, Span<double> distances, out int changes)
    {
        var order = new int[clusters];
        var sorted = new double[clusters];
        for (int c = 0; c < clusters; c++)
        {
            order[c] = c;
            sorted[c] = centroids[c];
        }
        Array.Sort(sorted, order); // introsort is unstable: restore index order among equal values
        for (int start = 0; start < clusters;)
        {
            int end = start + 1;
            while (end < clusters && sorted[end] == sorted[start])
                end++;
            Array.Sort(order, start, end - start);
            start = end;
        }
        double objective = 0;
        changes = 0;
        for (int i = 0; i < points.Length; i++)
        {
            double x = points[i];
            // p = the last position whose centroid is ≤ x (−1 when none).
            int low = 0, high = clusters - 1, p = -1;
            while (low <= high)
            {
                int middle = (low + high) >>> 1;
                if (sorted[middle] <= x)
                {
                    p = middle;
                    low = middle + 1;
                }
                else
                {
                    high = middle - 1;
                }
            }
            double best = double.PositiveInfinity;
            if (p >= 0)
                best = Square(x - sorted[p]);
            if (p + 1 < clusters)
                best = Math.Min(best, Square(x - sorted[p + 1]));
            // Distances grow away from x, so the centroids at the least distance form one run around p; take its lowest index.
            int bestIndex = int.MaxValue;
            for (int q = p; q >= 0 && Square(x - sorted[q]) == best; q--)
                bestIndex = Math.Min(bestIndex, order[q]);
            for (int q = p + 1; q < clusters && Square(x - sorted[q]) == best; q++)
                bestIndex = Math.Min(bestIndex, order[q]);
            Record(i, bestIndex, PointWeight(weights, i, 1) * best, assignments, distances, ref objective, ref changes);
        }
        return objective;
    }

    /// <summary>Mahalanobis initialisation (see <see cref="KMeansInitialization.Mahalanobis"/>); returns <c>[k, d]</c>.</summary>
    public static double[] InitializeMahalanobis(ReadOnlySpan<float> points, int dimension, int clusters)
    {
        int n = points.Length / dimension;
        var mean = new double[dimension];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < dimension; j++)
                mean[j] += points[i * dimension + j];
        for (int j = 0; j < dimension; j++)
            mean[j] /= n;
        var covariance = new double[dimension * dimension];
        for (int i = 0; i < n; i++)
            for (int a = 0; a < dimension; a++)
                for (int b = 0; b < dimension; b++)
                    covariance[a * dimension + b] += (points[i * dimension + a] - mean[a]) * (points[i * dimension + b] - mean[b]);
        double[] precision = InvertWithRidge(covariance, dimension);
        var keys = new double[n];
        var order = new int[n];
        var centered = new double[dimension];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < dimension; j++)
                centered[j] = points[i * dimension + j] - mean[j];
            double distance = 0;
            for (int a = 0; a < dimension; a++)
                for (int b = 0; b < dimension; b++)
                    distance += centered[a] * precision[a * dimension + b] * centered[b];
            keys[i] = distance;
            order[i] = i;
        }
        Array.Sort(order, (a, b) => keys[a] != keys[b] ? keys[a].CompareTo(keys[b]) : a.CompareTo(b));
        var centroids = new double[clusters * dimension];
        for (int c = 0; c < clusters; c++)
        {
            int rank = clusters == 1 ? 0 : (int)Math.Round((double)c * (n - 1) / (clusters - 1), MidpointRounding.ToEven);
            for (int j = 0; j < dimension; j++)
                centroids[c * dimension + j] = points[order[rank] * dimension + j];
        }
        return centroids;
    }

    /// <summary>k-means++ seeding with weighted D² sampling from a generator seeded by <paramref name="seed"/>.</summary>
    public static double[] InitializeKMeansPlusPlus(ReadOnlySpan<float> points, int dimension, int clusters, ReadOnlySpan<float> weights, ulong seed)
    {
        int n = points.Length / dimension;
        var random = new Random(unchecked((int)Mix(seed)));
        var centroids = new double[clusters * dimension];
        var nearest = new double[n];
        var mass = new double[n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < dimension; j++)
                mass[i] += Weight(weights, points.Length, i, j, dimension);
        int first = Sample(mass, random);
        for (int j = 0; j < dimension; j++)
            centroids[j] = points[first * dimension + j];
        for (int i = 0; i < n; i++)
            nearest[i] = WeightedDistance(points, i, dimension, centroids, 0, weights);
        for (int c = 1; c < clusters; c++)
        {
            int chosen = Sample(nearest, random);
            for (int j = 0; j < dimension; j++)
                centroids[c * dimension + j] = points[chosen * dimension + j];
            for (int i = 0; i < n; i++)
                nearest[i] = Math.Min(nearest[i], WeightedDistance(points, i, dimension, centroids, c, weights));
        }
        return centroids;
    }

    /// <summary>SplitMix64 of <paramref name="value"/>: derives independent per-group seeds from one seed.</summary>
    public static ulong Mix(ulong value)
    {
        value += 0x9E3779B97F4A7C15UL;
        value = (value ^ (value >> 30)) * 0xBF58476D1CE4E5B9UL;
        value = (value ^ (value >> 27)) * 0x94D049BB133111EBUL;
        return value ^ (value >> 31);
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

    private static void Record(int i, int index, double distance, Span<int> assignments, Span<double> distances, ref double objective, ref int changes)
    {
        if (assignments[i] != index)
            changes++;
        assignments[i] = index;
        distances[i] = distance;
        objective += distance;
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

    private static int Sample(double[] mass, Random random)
    {
        double total = 0;
        foreach (double value in mass)
            total += value;
        if (!(total > 0))
            return random.Next(mass.Length);
        double target = random.NextDouble() * total;
        double cumulative = 0;
        for (int i = 0; i < mass.Length; i++)
        {
            cumulative += mass[i];
            if (cumulative > target && mass[i] > 0)
                return i;
        }
        for (int i = mass.Length - 1; i >= 0; i--)
        {
            if (mass[i] > 0)
                return i;
        }
        return 0;
    }

    private static double[] InvertWithRidge(double[] matrix, int size)
    {
        double trace = 0;
        for (int i = 0; i < size; i++)
            trace += matrix[i * size + i];
        var a = (double[])matrix.Clone();
        var inverse = new double[size * size];
        if (!(trace > 0))
            return inverse; // all points equal: every distance is 0, the order is the index order
        for (int i = 0; i < size; i++)
        {
            a[i * size + i] += 1e-9 * trace / size; // a degenerate (flat) cloud still gets a finite metric
            inverse[i * size + i] = 1;
        }
        // Gauss–Jordan elimination; the ridged covariance is positive definite, so no pivoting is needed.
        for (int col = 0; col < size; col++)
        {
            double pivot = a[col * size + col];
            for (int j = 0; j < size; j++)
            {
                a[col * size + j] /= pivot;
                inverse[col * size + j] /= pivot;
            }
            for (int row = 0; row < size; row++)
            {
                if (row == col)
                    continue;
                double factor = a[row * size + col];
                for (int j = 0; j < size; j++)
                {
                    a[row * size + j] -= factor * a[col * size + j];
                    inverse[row * size + j] -= factor * inverse[col * size + j];
                }
            }
        }
        return inverse;
    }
}
