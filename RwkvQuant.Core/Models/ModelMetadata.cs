namespace RwkvQuant.Models;

/// <summary>The safetensors metadata this library writes to say who produced a model file.</summary>
internal static class ModelMetadata
{
    /// <summary>Metadata key naming the producer.</summary>
    public const string FormatKey = "format";

    /// <summary>Its value for full-precision models.</summary>
    public const string FullPrecisionFormat = "rwkvquant-fp";
}
