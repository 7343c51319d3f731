namespace RwkvQuant.Training;

/// <summary>Progress of a training run, reported after every step.</summary>
/// <param name="Step">Steps done (1-based step just finished).</param>
/// <param name="TotalSteps">Steps in the run.</param>
/// <param name="LearningRate">The finished step's learning rate.</param>
/// <param name="TrainBitsPerByte">The finished step's training loss, in bits per byte.</param>
/// <param name="ValidationBitsPerByte">The latest validation loss in bits per byte, null before the first.</param>
/// <param name="SecondsPerStep">Mean wall time per step in this session.</param>
/// <param name="Log">The log so far (rows at every log, validation and final step); new rows only at those steps.</param>
public sealed record TrainingProgress(
    int Step, int TotalSteps, double LearningRate, double TrainBitsPerByte, double? ValidationBitsPerByte,
    double SecondsPerStep, IReadOnlyList<TrainingLogEntry> Log);
