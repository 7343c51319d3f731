using RwkvQuant.Formats;

namespace RwkvQuant.Models;

/// <summary>Assembles an <see cref="RwkvModel"/> from tensors already in canonical form, whatever container held them.</summary>
internal static class CanonicalModel
{
    /// <summary>
    /// Builds a model from tensors that already carry BlinkDL's names and layouts (safetensors written by this
    /// library or converted from a BlinkDL checkpoint), inferring the config.
    /// </summary>
    public static RwkvModel FromTensors(IReadOnlyList<TensorData> tensors, string path)
    {
        var byName = new Dictionary<string, TensorData>(StringComparer.Ordinal);
        foreach (TensorData tensor in tensors)
        {
            if (!tensor.Type.IsFloatingPoint())
                throw ModelFileError.Create(path, tensor.Name, $"type {tensor.Type} is not a floating-point weight type.");
            byName[tensor.Name] = tensor;
        }
        RwkvConfig config = RwkvConfigInference.Infer(byName, path);
        return new RwkvModel(config, tensors, path);
    }
}
