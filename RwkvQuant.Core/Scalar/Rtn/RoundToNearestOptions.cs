namespace RwkvQuant.Scalar.Rtn;

/// <summary>Round-to-nearest per group: the grid of each group is fitted to its min/max. Immutable; validated on set.</summary>
public sealed record RoundToNearestOptions
{
    /// <summary>Defaults: asymmetric 3-bit codes, groups of 64 columns, FP16 scale and zero (3.5 bits per weight).</summary>
    public static RoundToNearestOptions Default { get; } = new();

    /// <summary>Bits per code, 2–8 (default 3).</summary>
    public int Bits
    {
        get;
        init => field = value is >= 2 and <= 8 ? value : throw new ArgumentOutOfRangeException(nameof(Bits), value, "Codes have 2 to 8 bits.");
    } = 3;

    /// <summary>Consecutive columns of a row sharing a scale and zero, 1 or more (default 64). When the column count is
    /// not a multiple, the last group of each row is shorter.</summary>
    public int GroupSize
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(GroupSize), value, "The group size must be at least 1.");
    } = 64;

    /// <summary>True for x̂ = s·(q − 2^(b−1)) with no stored zero; false (default) for x̂ = s·(q − z) with a stored zero.</summary>
    public bool Symmetric { get; init; }

    /// <summary>Precision of the stored scales and zeros (default <see cref="Scalar.ScalePrecision.F16"/>).</summary>
    public ScalePrecision ScalePrecision
    {
        get;
        init => field = Enum.IsDefined(value) ? value : throw new ArgumentOutOfRangeException(nameof(ScalePrecision), value, "Unknown scale precision.");
    } = ScalePrecision.F16;
}
