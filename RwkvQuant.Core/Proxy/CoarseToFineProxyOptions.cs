namespace RwkvQuant.Proxy;

/// <summary>Options of the <see cref="CoarseToFineProxy"/>. Immutable; every property is validated when set.</summary>
public sealed record CoarseToFineProxyOptions
{
    /// <summary>The paper's settings: K = 4, FP16 unique gaps.</summary>
    public static CoarseToFineProxyOptions Default { get; } = new();

    /// <summary>Highest moment order K of the fine proxy P_f = Σ_{k=2..K} …, 2 to 16. Default 4.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Outside [2, 16].</exception>
    public int Order
    {
        get;
        init => field = value is >= 2 and <= 16 ? value : throw new ArgumentOutOfRangeException(nameof(Order), value, "The order K lies in [2, 16].");
    } = 4;

    /// <summary>Which gaps enter both proxies. Default <see cref="GapMode.PaperFp16UniqueGaps"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not a defined value.</exception>
    public GapMode Mode
    {
        get;
        init => field = Enum.IsDefined(value) ? value : throw new ArgumentOutOfRangeException(nameof(Mode), value, "Unknown gap mode.");
    } = GapMode.PaperFp16UniqueGaps;
}
