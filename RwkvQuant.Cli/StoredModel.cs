using RwkvQuant.DefaultModel;
using RwkvQuant.Inference;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;

namespace RwkvQuant.Cli;

/// <summary>
/// A model file as the inference engine wants it: a quantized <c>.rwkvq</c> known by its header until it is run (then
/// read tensor by tensor into the engine, never dequantized), anything else loaded as the float32 model.
/// </summary>
internal sealed record StoredModel(QuantizedModelHeader? Quantized, RwkvModel? Full)
{
    public RwkvConfig Config => Quantized?.Config ?? Full!.Config;

    /// <summary>Loads <paramref name="path"/>; of a <c>.rwkvq</c> file only the header is read. Null is the embedded default model.</summary>
    public static StoredModel Load(string? path)
    {
        if (path is null)
            return new StoredModel(null, EmbeddedModel.Load());
        if (!File.Exists(path))
            throw new FileNotFoundException($"Model file '{path}' does not exist.", path);
        return QuantizedModelFile.IsQuantizedModel(path)
            ? new StoredModel(QuantizedModelFile.ReadHeader(path), null)
            : new StoredModel(null, CliContext.LoadModel(path));
    }

    /// <summary>True when the inference engine runs this version (v6, v7).</summary>
    public bool EngineRuns => Config.Version is RwkvVersion.V6 or RwkvVersion.V7;

    /// <summary>The engine: a quantized model's from its packed weights, read from the file now.</summary>
    public RwkvEngine CreateEngine() => Quantized is not null ? RwkvEngine.Load(Quantized.Path) : RwkvEngine.Create(Full!);

    /// <summary>The float32 engine: a quantized model's read and dequantized tensor by tensor (no float32 model held).</summary>
    public RwkvEngine CreateDequantizedEngine() => Quantized is not null ? RwkvEngine.LoadDequantized(Quantized.Path) : RwkvEngine.Create(Full!);

    /// <summary>The float32 model (a quantized one read and dequantized).</summary>
    public RwkvModel ToFullModel() => Full ?? QuantizedModelFile.Load(Quantized!.Path).ToDequantizedModel();
}
