namespace RwkvQuant.Calibration;

/// <summary>
/// How calibration samples are cut from text and run through the network. Immutable; each property is validated
/// when set. Defaults (<see cref="Default"/>): 128 samples of 512 tokens, random windows with seed 0, batches of 16.
/// </summary>
public sealed record CalibrationOptions
{
    /// <summary>The defaults: 128 samples × 512 tokens, <see cref="CalibrationSelection.RandomWindows"/>, seed 0, batch 16.</summary>
    public static CalibrationOptions Default { get; } = new();

    /// <summary>Number of samples (1 or more; default 128, GPTQ's count).</summary>
    public int SampleCount
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(SampleCount), value, "At least one calibration sample is needed.");
    } = 128;

    /// <summary>Tokens per sample (2 or more; default 512). Every sample has exactly this length.</summary>
    public int TokensPerSample
    {
        get;
        init => field = value >= 2 ? value : throw new ArgumentOutOfRangeException(nameof(TokensPerSample), value, "A calibration sample needs at least 2 tokens.");
    } = 512;

    /// <summary>How the samples are chosen from the text (default <see cref="CalibrationSelection.RandomWindows"/>).</summary>
    public CalibrationSelection Selection
    {
        get;
        init => field = Enum.IsDefined(value) ? value : throw new ArgumentOutOfRangeException(nameof(Selection), value, "Unknown calibration selection.");
    } = CalibrationSelection.RandomWindows;

    /// <summary>Seed of <see cref="CalibrationSelection.RandomWindows"/> (any value; default 0). Same seed, same samples.</summary>
    public int Seed { get; init; }

    /// <summary>Samples run side by side in one forward call (1 or more; default 16). Does not change the statistics.</summary>
    public int BatchSize
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(BatchSize), value, "The batch size must be at least 1.");
    } = 16;
}
