namespace RwkvQuant.Training;

/// <summary>
/// The recipe of a byte-level RWKV-7 training run: architecture, data windows, AdamW with a linear warm-up and a
/// cosine decay, gradient clipping, seed, and how often to validate and checkpoint. Immutable; each property is
/// validated when set. <see cref="Default"/>: 4 layers × 256, head size 32, context 128, batch 16, 2000 steps,
/// learning rate 1e-3 → 1e-4 after 50 warm-up steps, weight decay 0.1, clip 1.0, seed 0.
/// </summary>
public sealed record Rwkv7TrainingOptions
{
    /// <summary>The defaults (see the type's summary).</summary>
    public static Rwkv7TrainingOptions Default { get; } = new();

    /// <summary>Number of blocks (1 or more; default 4).</summary>
    public int Layers
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(Layers), value, "At least one layer is needed.");
    } = 4;

    /// <summary>Width C of the residual stream (a positive multiple of <see cref="HeadSize"/>; default 256).</summary>
    public int Width
    {
        get;
        init => field = value >= 2 ? value : throw new ArgumentOutOfRangeException(nameof(Width), value, "The width must be at least 2.");
    } = 256;

    /// <summary>Channels per head N (2 or more, dividing <see cref="Width"/>; default 32).</summary>
    public int HeadSize
    {
        get;
        init => field = value >= 2 ? value : throw new ArgumentOutOfRangeException(nameof(HeadSize), value, "The head size must be at least 2.");
    } = 32;

    /// <summary>Bytes per training window T (2 or more; default 128). Each window starts from the zero state.</summary>
    public int ContextLength
    {
        get;
        init => field = value >= 2 ? value : throw new ArgumentOutOfRangeException(nameof(ContextLength), value, "The context must be at least 2 bytes.");
    } = 128;

    /// <summary>Windows per optimizer step (1 or more; default 16).</summary>
    public int BatchSize
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(BatchSize), value, "The batch size must be at least 1.");
    } = 16;

    /// <summary>Optimizer steps in all (1 or more; default 2000). The cosine decay ends here.</summary>
    public int Steps
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(Steps), value, "At least one step is needed.");
    } = 2000;

    /// <summary>Peak learning rate, reached after the warm-up (positive; default 1e-3).</summary>
    public double LearningRate
    {
        get;
        init => field = value > 0 && double.IsFinite(value) ? value : throw new ArgumentOutOfRangeException(nameof(LearningRate), value, "The learning rate must be positive.");
    } = 1e-3;

    /// <summary>Learning rate at the last step (0 ≤ value ≤ the peak; default 1e-4).</summary>
    public double FinalLearningRate
    {
        get;
        init => field = value >= 0 && double.IsFinite(value) ? value : throw new ArgumentOutOfRangeException(nameof(FinalLearningRate), value, "The final learning rate must be 0 or more.");
    } = 1e-4;

    /// <summary>Steps of linear warm-up from 0 to the peak (0 or more; default 50).</summary>
    public int WarmupSteps
    {
        get;
        init => field = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(WarmupSteps), value, "The warm-up cannot be negative.");
    } = 50;

    /// <summary>AdamW decoupled weight decay on the 2-D <c>.weight</c> matrices (0 or more; default 0.1).</summary>
    public double WeightDecay
    {
        get;
        init => field = value >= 0 && double.IsFinite(value) ? value : throw new ArgumentOutOfRangeException(nameof(WeightDecay), value, "The weight decay must be 0 or more.");
    } = 0.1;

    /// <summary>AdamW β₁ (0 ≤ β₁ &lt; 1; default 0.9).</summary>
    public double Beta1
    {
        get;
        init => field = value is >= 0 and < 1 ? value : throw new ArgumentOutOfRangeException(nameof(Beta1), value, "β₁ must be in [0, 1).");
    } = 0.9;

    /// <summary>AdamW β₂ (0 ≤ β₂ &lt; 1; default 0.99, BlinkDL's choice).</summary>
    public double Beta2
    {
        get;
        init => field = value is >= 0 and < 1 ? value : throw new ArgumentOutOfRangeException(nameof(Beta2), value, "β₂ must be in [0, 1).");
    } = 0.99;

    /// <summary>AdamW ε (positive; default 1e-8).</summary>
    public double Epsilon
    {
        get;
        init => field = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(Epsilon), value, "ε must be positive.");
    } = 1e-8;

    /// <summary>Gradients are scaled down to this global L2 norm when above it (positive; default 1.0).</summary>
    public double GradientClip
    {
        get;
        init => field = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(GradientClip), value, "The clipping norm must be positive.");
    } = 1.0;

    /// <summary>Seed of the initial weights and of every step's windows (any value; default 0). Same seed, same run.</summary>
    public long Seed { get; init; }

    /// <summary>Steps between training-loss log rows (1 or more; default 10).</summary>
    public int LogInterval
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(LogInterval), value, "The log interval must be at least 1.");
    } = 10;

    /// <summary>Steps between validation losses (1 or more; default 100). The last step is always validated.</summary>
    public int ValidationInterval
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(ValidationInterval), value, "The validation interval must be at least 1.");
    } = 100;

    /// <summary>Validation windows of <see cref="ContextLength"/> bytes, spread evenly over the validation text (1 or more; default 64).</summary>
    public int ValidationWindows
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(ValidationWindows), value, "At least one validation window is needed.");
    } = 64;

    /// <summary>Steps between checkpoints (1 or more; default 50). The last step is always checkpointed.</summary>
    public int CheckpointInterval
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(CheckpointInterval), value, "The checkpoint interval must be at least 1.");
    } = 50;

    /// <summary>Checks what single properties cannot: the head size divides the width, the final rate is at most the peak.</summary>
    /// <exception cref="ArgumentException">They do not.</exception>
    public void Validate()
    {
        if (Width % HeadSize != 0)
            throw new ArgumentException($"The head size {HeadSize} does not divide the width {Width}.");
        if (FinalLearningRate > LearningRate)
            throw new ArgumentException($"The final learning rate {FinalLearningRate} is above the peak {LearningRate}.");
    }

    /// <summary>The learning rate of 1-based step <paramref name="step"/>: linear warm-up, then cosine from the peak to the final rate.</summary>
    public double LearningRateAt(int step)
    {
        if (step <= WarmupSteps)
            return LearningRate * step / Math.Max(1, WarmupSteps);
        double progress = Math.Min(1.0, (double)(step - WarmupSteps) / Math.Max(1, Steps - WarmupSteps));
        return FinalLearningRate + (LearningRate - FinalLearningRate) * 0.5 * (1 + Math.Cos(Math.PI * progress));
    }
}
