namespace RwkvQuant.Training;

/// <summary>One row of a training log.</summary>
/// <param name="Step">The optimizer step (1-based) the row was taken after.</param>
/// <param name="LearningRate">The step's learning rate.</param>
/// <param name="TrainBitsPerByte">Mean training loss of the steps since the previous row, in bits per byte.</param>
/// <param name="ValidationBitsPerByte">Validation loss after this step in bits per byte, when validated at this step.</param>
/// <param name="Tokens">Bytes trained on so far.</param>
/// <param name="ElapsedSeconds">Training time so far (over all resumed sessions).</param>
public sealed record TrainingLogEntry(
    int Step, double LearningRate, double TrainBitsPerByte, double? ValidationBitsPerByte, long Tokens, double ElapsedSeconds);
