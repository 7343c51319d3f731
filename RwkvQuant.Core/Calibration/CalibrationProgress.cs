namespace RwkvQuant.Calibration;

/// <summary>Progress of a calibration pass, reported after every batch of samples.</summary>
/// <param name="SamplesDone">Samples run through the network so far.</param>
/// <param name="SampleCount">Samples in the pass.</param>
public readonly record struct CalibrationProgress(int SamplesDone, int SampleCount);
