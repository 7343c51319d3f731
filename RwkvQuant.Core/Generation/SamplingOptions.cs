namespace RwkvQuant.Generation;

/// <summary>How the next token is chosen from the logits. Immutable; validated on set.</summary>
public sealed record SamplingOptions
{
    /// <summary>Greedy decoding (temperature 0).</summary>
    public static SamplingOptions Greedy { get; } = new() { Temperature = 0 };

    /// <summary>Softmax temperature, 0 or more (default 1). 0 picks the most likely token (greedy, ties to the lowest id).</summary>
    public double Temperature
    {
        get;
        init => field = value >= 0 && double.IsFinite(value) ? value : throw new ArgumentOutOfRangeException(nameof(Temperature), value, "The temperature must be finite and at least 0.");
    } = 1.0;

    /// <summary>Nucleus sampling: keep the most likely tokens whose probabilities first reach this total, in (0, 1]
    /// (default 1, all tokens).</summary>
    public double TopP
    {
        get;
        init => field = value is > 0 and <= 1 ? value : throw new ArgumentOutOfRangeException(nameof(TopP), value, "top-p must be in (0, 1].");
    } = 1.0;

    /// <summary>Seed of the random generator; null draws a random seed.</summary>
    public int? Seed { get; init; }
}
