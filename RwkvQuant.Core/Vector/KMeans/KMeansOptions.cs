using ILGPU.Runtime;

namespace RwkvQuant.Vector.KMeans;

/// <summary>
/// Options of k-means vector quantization (and the codebook fitting inside GPTVQ). Immutable; every property is
/// validated when set. The defaults are the paper's: d = 1, b = 3 (8 centroids), one codebook per 2 rows × 32 columns,
/// Mahalanobis initialisation, up to 100 Lloyd iterations, int8 codebooks with an FP16 scale.
/// </summary>
public sealed record KMeansOptions
{
    /// <summary>The paper's defaults.</summary>
    public static KMeansOptions Default { get; } = new();

    /// <summary>Vector dimension d: 1, 2 or 4 consecutive columns per code. Default 1.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not 1, 2 or 4.</exception>
    public int Dimension
    {
        get;
        init => field = value is 1 or 2 or 4 ? value : throw new ArgumentOutOfRangeException(nameof(Dimension), value, "The vector dimension is 1, 2 or 4.");
    } = 1;

    /// <summary>Bits b per code (2^b centroids per codebook), 1 to 12. Default 3. Bits per weight from codes: b / d.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Outside [1, 12].</exception>
    public int Bits
    {
        get;
        init => field = value is >= 1 and <= 12 ? value : throw new ArgumentOutOfRangeException(nameof(Bits), value, "Codes have 1 to 12 bits.");
    } = 3;

    /// <summary>Rows per codebook group, at least 1. Default 2.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Less than 1.</exception>
    public int GroupRows
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(GroupRows), value, "A group has at least one row.");
    } = 2;

    /// <summary>Columns per codebook group, a positive multiple of <see cref="Dimension"/> (checked by the quantizers).
    /// Default 32.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Less than 1.</exception>
    public int GroupColumns
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(GroupColumns), value, "A group has at least one column.");
    } = 32;

    /// <summary>Starting centroids. Default <see cref="KMeansInitialization.Mahalanobis"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not a defined value.</exception>
    public KMeansInitialization Initialization
    {
        get;
        init => field = Enum.IsDefined(value) ? value : throw new ArgumentOutOfRangeException(nameof(Initialization), value, "Unknown initialisation.");
    } = KMeansInitialization.Mahalanobis;

    /// <summary>Cap on Lloyd iterations, 1 to 10 000. Default 100.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Outside [1, 10 000].</exception>
    public int MaxIterations
    {
        get;
        init => field = value is >= 1 and <= 10_000 ? value : throw new ArgumentOutOfRangeException(nameof(MaxIterations), value, "Between 1 and 10 000 iterations.");
    } = 100;

    /// <summary>
    /// Stop early when an iteration lowers the objective by at most this fraction of it, in [0, 1). Iterations always
    /// stop when no assignment changes. Default 0 (run until assignments are stable or the cap).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Outside [0, 1) or NaN.</exception>
    public double Tolerance
    {
        get;
        init => field = value is >= 0 and < 1 ? value : throw new ArgumentOutOfRangeException(nameof(Tolerance), value, "The tolerance lies in [0, 1).");
    }

    /// <summary>Seed of k-means++ (each group derives its own stream from it). Default 0.</summary>
    public int Seed { get; init; }

    /// <summary>Codebook storage. Default <see cref="CodebookPrecision.Int8WithScale"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not a defined value.</exception>
    public CodebookPrecision CodebookPrecision
    {
        get;
        init => field = Enum.IsDefined(value) ? value : throw new ArgumentOutOfRangeException(nameof(CodebookPrecision), value, "Unknown codebook precision.");
    } = CodebookPrecision.Int8WithScale;

    /// <summary>
    /// The accelerator whose ILGPU kernel runs the assignment step's nearest-centroid search, or null (default) for the
    /// managed SIMD search on the CPU. Results are identical either way (the search is exact in double precision); an
    /// accelerator pays off only on a GPU — ILGPU's CPU accelerator is slower than the default. The caller owns it.
    /// </summary>
    public Accelerator? SearchAccelerator { get; init; }

    /// <summary>The search <see cref="SearchAccelerator"/> selects (null: the CPU default).</summary>
    internal Kernels.KMeans.ICentroidSearch? Search =>
        SearchAccelerator is { } accelerator ? Kernels.KMeans.CentroidSearchLauncher.For(accelerator) : null;

    /// <summary>Throws when the options do not fit together (the group width is not a multiple of the dimension).</summary>
    internal void ValidateCombination()
    {
        if (GroupColumns % Dimension != 0)
            throw new ArgumentException($"The group width {GroupColumns} is not a multiple of the vector dimension {Dimension}.");
    }

    /// <summary>The layout these options give a <c>[rows, columns]</c> weight.</summary>
    internal VectorLayout LayoutFor(int rows, int columns) => new(rows, columns, Dimension, Bits, GroupRows, GroupColumns);
}
