namespace RwkvQuant.Scalar.Gptq;

/// <summary>
/// GPTQ (Frantar et al., 2023) settings. Defaults follow the paper and RWKVQuant's scalar branch: asymmetric 3-bit
/// codes, groups of 64 columns, FP16 scale and zero (3.5 bits per weight), damping 1% of mean diag(H), lazy block
/// updates of 128 columns, no act-order. Immutable; validated on set.
/// </summary>
public sealed record GptqOptions
{
    /// <summary>The defaults listed on the type.</summary>
    public static GptqOptions Default { get; } = new();

    /// <summary>Bits per code, 2–8 (default 3).</summary>
    public int Bits
    {
        get;
        init => field = value is >= 2 and <= 8 ? value : throw new ArgumentOutOfRangeException(nameof(Bits), value, "Codes have 2 to 8 bits.");
    } = 3;

    /// <summary>Consecutive columns (in quantization order) sharing a scale and zero, 1 or more (default 64); the last
    /// group of a row is shorter when the column count is not a multiple.</summary>
    public int GroupSize
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(GroupSize), value, "The group size must be at least 1.");
    } = 64;

    /// <summary>True for x̂ = s·(q − 2^(b−1)) with no stored zero; false (default) for x̂ = s·(q − z).</summary>
    public bool Symmetric { get; init; }

    /// <summary>Precision of the stored scales and zeros (default <see cref="Scalar.ScalePrecision.F16"/>).</summary>
    public ScalePrecision ScalePrecision
    {
        get;
        init => field = Enum.IsDefined(value) ? value : throw new ArgumentOutOfRangeException(nameof(ScalePrecision), value, "Unknown scale precision.");
    } = ScalePrecision.F16;

    /// <summary>λ as a fraction of mean diag(H) added to the diagonal before the Cholesky factorization, in (0, 1]
    /// (default 0.01, i.e. 1%).</summary>
    public double DampingPercent
    {
        get;
        init => field = value is > 0 and <= 1 ? value : throw new ArgumentOutOfRangeException(nameof(DampingPercent), value, "The damping must be in (0, 1] of mean diag(H).");
    } = 0.01;

    /// <summary>Columns per lazy block update, 1 or more (default 128). Changes speed, not the result (up to rounding).</summary>
    public int BlockSize
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(BlockSize), value, "The block size must be at least 1.");
    } = 128;

    /// <summary>True to quantize columns in order of descending diag(H) (act-order); groups then follow that order and
    /// the permutation is stored with the tensor (⌈log₂ columns⌉ bits per column). Default false.</summary>
    public bool ActOrder { get; init; }

    /// <summary>
    /// True to search each group's grid for the least squared error over its weights as they stand when the group is
    /// reached (gptq.py's <c>mse</c> option): the min/max range shrunk by 0%, 2%, … 20%, each fitted as usual, the best
    /// kept; the group's largest weights may then clip. False (default): the min/max fit, which clips nothing.
    /// </summary>
    public bool ClipSearch { get; init; }

    /// <summary>Factorization attempts, 1–20 (default 6): when the Cholesky factorization fails, the damping is
    /// multiplied by 10 and tried again (1%, 10%, 100%, ... of mean diag(H)); each raise is recorded in the notes.</summary>
    public int MaxDampingAttempts
    {
        get;
        init => field = value is >= 1 and <= 20 ? value : throw new ArgumentOutOfRangeException(nameof(MaxDampingAttempts), value, "Between 1 and 20 attempts.");
    } = 6;
}
