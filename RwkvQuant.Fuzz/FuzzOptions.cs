namespace RwkvQuant.Fuzz;

/// <summary>How a fuzz run is made. Defaults: 300 cases per format, seed 1, 10 s per load, every format.</summary>
public sealed record FuzzOptions
{
    /// <summary>Cases per format (at least 1).</summary>
    public int Cases
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(Cases), value, "At least one case.");
    } = 300;

    /// <summary>The run's seed: the same seed gives the same mutated files and outcomes.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>How long one load may take before it is a hang (more than zero).</summary>
    public TimeSpan Timeout
    {
        get;
        init => field = value > TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(nameof(Timeout), value, "The timeout is positive.");
    } = TimeSpan.FromSeconds(10);

    /// <summary>The formats to fuzz, in order.</summary>
    public IReadOnlyList<FuzzFormat> Formats
    {
        get;
        init => field = value is { Count: > 0 } ? value : throw new ArgumentException("At least one format.", nameof(Formats));
    } = FuzzFormats.All;
}
