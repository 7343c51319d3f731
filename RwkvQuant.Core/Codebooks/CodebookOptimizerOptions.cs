using RwkvQuant.Vector.KMeans;

namespace RwkvQuant.Codebooks;

/// <summary>
/// Options of the codebook optimizers. Immutable; every property is validated when set. The defaults are the paper's:
/// groups of 64 channels, 3-bit codes (8 centroids per group), Mahalanobis initialisation, up to 100 Lloyd iterations;
/// codebooks are stored as int8 with one FP16 scale each.
/// </summary>
public sealed record CodebookOptimizerOptions
{
    /// <summary>The paper's defaults.</summary>
    public static CodebookOptimizerOptions Default { get; } = new();

    /// <summary>Channels per codebook group, 1 to 65 536 (the last group may be smaller). Default 64.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Outside [1, 65 536].</exception>
    public int GroupSize
    {
        get;
        init => field = value is >= 1 and <= 65_536 ? value : throw new ArgumentOutOfRangeException(nameof(GroupSize), value, "A group has 1 to 65 536 channels.");
    } = 64;

    /// <summary>Bits b per code (2^b centroids per group), 1 to 8. Default 3.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Outside [1, 8].</exception>
    public int Bits
    {
        get;
        init => field = value is >= 1 and <= 8 ? value : throw new ArgumentOutOfRangeException(nameof(Bits), value, "Codes have 1 to 8 bits.");
    } = 3;

    /// <summary>Cap on Lloyd iterations per group, 1 to 10 000. Default 100.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Outside [1, 10 000].</exception>
    public int Iterations
    {
        get;
        init => field = value is >= 1 and <= 10_000 ? value : throw new ArgumentOutOfRangeException(nameof(Iterations), value, "Between 1 and 10 000 iterations.");
    } = 100;

    /// <summary>Starting centroids. Default <see cref="KMeansInitialization.Mahalanobis"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not a defined value.</exception>
    public KMeansInitialization Initialization
    {
        get;
        init => field = Enum.IsDefined(value) ? value : throw new ArgumentOutOfRangeException(nameof(Initialization), value, "Unknown initialisation.");
    } = KMeansInitialization.Mahalanobis;

    /// <summary>
    /// When true (default), the weighted fit starts from the converged unweighted fit (itself started from
    /// <see cref="Initialization"/>) and Lloyd's algorithm then refines it under the weights s_j, so its weighted error
    /// can only fall below the unweighted codebook's. When false, the weighted fit starts from
    /// <see cref="Initialization"/> directly (the paper's recipe), which with very uneven s_j often stops in a worse
    /// local minimum than the unweighted fit. Ignored by <see cref="UnweightedCodebookOptimizer"/>.
    /// </summary>
    public bool WarmStart { get; init; } = true;

    /// <summary>Seed of k-means++ (each group derives its own stream from it); Mahalanobis ignores it. Default 0.</summary>
    public int Seed { get; init; }
}
