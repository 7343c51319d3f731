using ILGPU;

namespace RwkvQuant.Kernels.KMeans;

/// <summary>The ILGPU nearest-centroid search: one thread per point, the reference's arithmetic term for term.</summary>
internal static class CentroidSearchKernel
{
    /// <summary>
    /// Thread i scans every centroid for point i and keeps the first of least (weighted) squared distance.
    /// </summary>
    /// <param name="index">Point i over [n].</param>
    /// <param name="points">x <c>[n, d]</c>.</param>
    /// <param name="centroids">c <c>[k, d]</c>.</param>
    /// <param name="weights">w <c>[n, d]</c> when <paramref name="weighted"/> is not 0; not read otherwise.</param>
    /// <param name="dimension">d.</param>
    /// <param name="clusters">k.</param>
    /// <param name="weighted">1 for Σⱼ wⱼ·(xⱼ − cⱼ)², 0 for Σⱼ (xⱼ − cⱼ)².</param>
    /// <param name="nearest">Output index <c>[n]</c>.</param>
    /// <param name="distances">Output distance <c>[n]</c>.</param>
    public static void Search(Index1D index, ArrayView<float> points, ArrayView<double> centroids, ArrayView<float> weights,
        int dimension, int clusters, int weighted, ArrayView<int> nearest, ArrayView<double> distances)
    {
        long i = index.X;
        double best = double.PositiveInfinity;
        int bestIndex = 0;
        for (int c = 0; c < clusters; c++)
        {
            double distance = 0;
            for (int j = 0; j < dimension; j++)
            {
                double difference = points[i * dimension + j] - centroids[(long)c * dimension + j];
                distance += weighted != 0 ? weights[i * dimension + j] * (difference * difference) : difference * difference;
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
