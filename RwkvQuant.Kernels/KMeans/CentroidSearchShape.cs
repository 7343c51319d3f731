using System.Diagnostics.CodeAnalysis;

namespace RwkvQuant.Kernels.KMeans;

/// <summary>Argument checks shared by every nearest-centroid search.</summary>
internal static class CentroidSearchShape
{
    /// <summary>
    /// Checks points <c>[n, d]</c>, centroids <c>[k, d]</c> (k ≥ 1), weights empty or <c>[n, d]</c>, and n-long outputs;
    /// returns (n, k).
    /// </summary>
    public static (int Points, int Clusters) Validate(long points, int dimension, long centroids, long weights, long nearest, long distances)
    {
        if (dimension < 1)
            Throw($"The dimension d must be at least 1; got {dimension}.", nameof(dimension));
        if (points % dimension != 0)
            Throw($"{points} point values do not form {dimension}-dimensional points.", nameof(points));
        if (centroids == 0 || centroids % dimension != 0)
            Throw($"{centroids} centroid values do not form a non-empty set of {dimension}-dimensional centroids.", nameof(centroids));
        long n = points / dimension;
        if (weights != 0 && weights != points)
            Throw($"The weights must be empty or one per point and dimension ({points}); got {weights}.", nameof(weights));
        if (nearest != n)
            Throw($"'nearest' must hold one index per point ({n}); it holds {nearest}.", nameof(nearest));
        if (distances != n)
            Throw($"'distances' must hold one value per point ({n}); it holds {distances}.", nameof(distances));
        if (centroids / dimension > int.MaxValue)
            Throw($"{centroids / dimension} centroids are too many.", nameof(centroids));
        return ((int)n, (int)(centroids / dimension));
    }

    [DoesNotReturn]
    private static void Throw(string message, string name) => throw new ArgumentException(message, name);
}
