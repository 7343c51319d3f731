using RwkvQuant.Vector.KMeans;

namespace RwkvQuant.Vector.Gptvq;

/// <summary>
/// Options of GPTVQ (van Baalen et al. 2024). Immutable; every property is validated when set, and the combination
/// when a <see cref="GptvqQuantizer"/> is built. Defaults: the paper's codebooks (<see cref="KMeansOptions.Default"/>:
/// d = 1, b = 3, 2 × 32 groups, Mahalanobis, 100 iterations, int8 + scale), blocks of 128 columns, damping 1% of the
/// mean diagonal of H, 10 conjugate-gradient steps of centroid refinement, no SVD compression.
/// </summary>
public sealed record GptvqOptions
{
    /// <summary>The defaults.</summary>
    public static GptvqOptions Default { get; } = new();

    /// <summary>
    /// The defaults with <paramref name="codebooks"/>, and lazy-update blocks of the default 128 columns rounded down to a
    /// multiple of the group width (at least one group: 256 columns for groups of 256).
    /// </summary>
    public static GptvqOptions ForCodebooks(KMeansOptions codebooks)
    {
        ArgumentNullException.ThrowIfNull(codebooks);
        int width = codebooks.GroupColumns;
        return new GptvqOptions { Codebooks = codebooks, BlockSize = Math.Max(Default.BlockSize, width) / width * width };
    }

    /// <summary>The codebooks: dimension, bits, group shape, k-means initialisation and iterations, storage precision.</summary>
    /// <exception cref="ArgumentNullException">Null.</exception>
    public KMeansOptions Codebooks
    {
        get;
        init => field = value ?? throw new ArgumentNullException(nameof(Codebooks));
    } = KMeansOptions.Default;

    /// <summary>Columns per lazy-update block: a positive multiple of the group width (checked by the quantizer). Default 128.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Less than 1.</exception>
    public int BlockSize
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(BlockSize), value, "A block has at least one column.");
    } = 128;

    /// <summary>Damping added to diag(H) before inversion, as a fraction of its mean, in (0, 1]. Default 0.01.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Outside (0, 1].</exception>
    public double DampingFraction
    {
        get;
        init => field = value is > 0 and <= 1 ? value : throw new ArgumentOutOfRangeException(nameof(DampingFraction), value, "Damping lies in (0, 1].");
    } = 0.01;

    /// <summary>
    /// Conjugate-gradient steps that refine the centroid values against tr((W − Q) H (W − Q)ᵀ) with the assignments
    /// fixed, in [0, 1000]; 0 turns refinement off. Default 10.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Outside [0, 1000].</exception>
    public int RefinementIterations
    {
        get;
        init => field = value is >= 0 and <= 1000 ? value : throw new ArgumentOutOfRangeException(nameof(RefinementIterations), value, "Between 0 and 1000 refinement steps.");
    } = 10;

    /// <summary>
    /// Rank r of the SVD compression of the stacked codebooks <c>[groups, 2^b·d]</c>, stored as FP16 factors
    /// U <c>[groups, r]</c> and V <c>[r, 2^b·d]</c> instead of the codebooks; 0 (the default) stores the codebooks in
    /// <see cref="KMeansOptions.CodebookPrecision"/>. The paper compresses rank 4 of 8.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Negative.</exception>
    public int SvdRank
    {
        get;
        init => field = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(SvdRank), value, "The SVD rank is 0 (off) or positive.");
    }

    internal void ValidateCombination()
    {
        Codebooks.ValidateCombination();
        if (BlockSize % Codebooks.GroupColumns != 0)
            throw new ArgumentException($"The block size {BlockSize} is not a multiple of the group width {Codebooks.GroupColumns}.");
        int length = (1 << Codebooks.Bits) * Codebooks.Dimension;
        if (SvdRank > length)
            throw new ArgumentException($"The SVD rank {SvdRank} exceeds the codebook length {length}.");
    }
}
