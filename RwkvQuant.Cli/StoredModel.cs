using RwkvQuant.DefaultModel;
using RwkvQuant.Formats.Safetensors;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;

namespace RwkvQuant.Cli;

/// <summary>A model file as the inference engine wants it: a quantized <c>.rwkvq</c> kept quantized, anything else
/// loaded as the float32 model.</summary>
internal sealed record StoredModel(QuantizedModel? Quantized, RwkvModel? Full)
{
    public RwkvConfig Config => Quantized?.Config ?? Full!.Config;

    /// <summary>Loads <paramref name="path"/>; a <c>.rwkvq</c> file stays quantized (not dequantized). Null is the embedded default model.</summary>
    public static StoredModel Load(string? path)
    {
        if (path is null)
            return new StoredModel(null, EmbeddedModel.Load());
        if (!File.Exists(path))
            throw new FileNotFoundException($"Model file '{path}' does not exist.", path);
        if (RwkvModelFile.DetectFormat(path) == ModelFileFormat.Safetensors)
        {
            SafetensorsFile file = SafetensorsReader.Open(path);
            if (QuantizedModelFile.IsQuantizedModel(file))
                return new StoredModel(QuantizedModelFile.FromSafetensors(file, path), null);
        }
        return new StoredModel(null, RwkvModelFile.Load(path));
    }

    /// <summary>True when the inference engine runs this version (v6, v7).</summary>
    public bool EngineRuns => Config.Version is RwkvVersion.V6 or RwkvVersion.V7;

    /// <summary>The float32 model (a quantized one dequantized).</summary>
    public RwkvModel ToFullModel() => Full ?? Quantized!.ToDequantizedModel();
}
