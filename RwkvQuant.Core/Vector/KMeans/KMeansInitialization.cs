namespace RwkvQuant.Vector.KMeans;

/// <summary>How k-means picks its starting centroids.</summary>
public enum KMeansInitialization
{
    /// <summary>
    /// Sort the points by their Mahalanobis distance (x − μ)ᵀ Σ⁻¹ (x − μ) from the group mean μ (for d = 1:
    /// |x − μ| / σ) and take the points at evenly spaced ranks round(i·(N − 1)/(k − 1)). Deterministic, no seed.
    /// </summary>
    Mahalanobis,

    /// <summary>k-means++ (Arthur and Vassilvitskii 2007): D²-weighted seeding from a seeded generator.</summary>
    KMeansPlusPlus,
}
