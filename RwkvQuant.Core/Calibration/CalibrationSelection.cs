namespace RwkvQuant.Calibration;

/// <summary>How <see cref="CalibrationData"/> cuts samples from the token stream of the calibration documents.</summary>
public enum CalibrationSelection
{
    /// <summary>Windows at seeded random offsets in the stream (GPTQ's choice); windows may overlap.</summary>
    RandomWindows,

    /// <summary>Consecutive, non-overlapping windows from the start of the stream; the text must be long enough.</summary>
    Consecutive,
}
