namespace RwkvQuant.Kernels.KMeans;

/// <summary>
/// Nearest-centroid search, the assignment step of k-means. For each point x <c>[d]</c> it finds the centroid c of least
/// squared distance Σⱼ (xⱼ − cⱼ)², or with diagonal weights per point Σⱼ wⱼ·(xⱼ − cⱼ)²; the lowest index wins a tie.
/// Distances are taken in double precision (points and weights widened from float), term by term in j order, so every
/// implementation returns the same indices and the same distances, bit for bit.
/// </summary>
public interface ICentroidSearch
{
    /// <summary>Searches every point.</summary>
    /// <param name="points">x <c>[n, d]</c> row-major.</param>
    /// <param name="dimension">d ≥ 1 (the fast paths cover 1, 2 and 4).</param>
    /// <param name="centroids">c <c>[k, d]</c> row-major, k ≥ 1.</param>
    /// <param name="weights">Empty (plain distance) or w <c>[n, d]</c> (weighted distance), all ≥ 0.</param>
    /// <param name="nearest">Output: each point's nearest centroid index <c>[n]</c>.</param>
    /// <param name="distances">Output: each point's (weighted) squared distance to it <c>[n]</c>.</param>
    void Search(ReadOnlySpan<float> points, int dimension, ReadOnlySpan<double> centroids, ReadOnlySpan<float> weights,
        Span<int> nearest, Span<double> distances);
}
