using System.Buffers;
using RwkvQuant.Kernels.KMeans;

namespace RwkvQuant.Vector.KMeans;

internal static partial class KMeans
{
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

    private static void Record(int i, int index, double distance, Span<int> assignments, Span<double> distances, ref double objective, ref int changes)
    {
        if (assignments[i] != index)
            changes++;
        assignments[i] = index;
        distances[i] = distance;
        objective += distance;
    }
}
