using RwkvQuant.Models;

namespace RwkvQuant.Training;

/// <summary>The outcome of a finished training run.</summary>
/// <param name="Model">The trained weights (float32, canonical names).</param>
/// <param name="Steps">Steps done in all.</param>
/// <param name="ValidationBitsPerByte">The validation loss after the last step, in bits per byte.</param>
/// <param name="Log">Every log row of the run, resumed sessions included.</param>
/// <param name="ModelPath">The FP16 safetensors file of the trained weights in the output folder.</param>
public sealed record TrainingResult(RwkvModel Model, int Steps, double ValidationBitsPerByte, IReadOnlyList<TrainingLogEntry> Log, string ModelPath);
