namespace RwkvQuant.Kernels.KMeans;

/// <summary>The plain twin of <see cref="ICentroidSearch"/>: every point against every centroid, one at a time.</summary>
internal sealed class CentroidSearchReference : ICentroidSearch
{
    /// <summary>The one instance (stateless).</summary>
    public static CentroidSearchReference Instance { get; } = new();

    private CentroidSearchReference()
    {
    }

    /// <inheritdoc />
    public void Search(ReadOnlySpan<float> points, int dimension, ReadOnlySpan<double> centroids, ReadOnlySpan<float> weights,
        Span<int> nearest, Span<double> distances)
    {
        (int n, _) = CentroidSearchShape.Validate(points.Length, dimension, centroids.Length, weights.Length, nearest.Length, distances.Length);
        SearchRange(points, dimension, centroids, weights, nearest, distances, 0, n);
    }

    /// <summary>Searches points [<paramref name="start"/>, <paramref name="end"/>) (arguments already validated).</summary>
    internal static void SearchRange(ReadOnlySpan<float> points, int dimension, ReadOnlySpan<double> centroids, ReadOnlySpan<float> weights,
        Span<int> nearest, Span<double> distances, int start, int end)
    {
        int clusters = centroids.Length / dimension;
        bool weighted = !weights.IsEmpty;
        for (int i = start; i < end; i++)
        {
            double best = double.PositiveInfinity;
            int bestIndex = 0;
            for (int c = 0; c < clusters; c++)
            {
                double distance = 0;
                for (int j = 0; j < dimension; j++)
                {
                    double difference = points[i * dimension + j] - centroids[c * dimension + j];
                    distance += weighted ? weights[i * dimension + j] * (difference * difference) : difference * difference;
                }
                if (distance < best)
                {
                    best = distance;
                    bestIndex = c;
                }
            }
            nearest[i] = bestIndex;
            distances[i] = best;
        }
    }
}
