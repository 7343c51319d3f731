namespace RwkvQuant.Formats.Safetensors;

/// <summary>The contents of a safetensors file: its tensors in data order and its <c>__metadata__</c> strings.</summary>
/// <param name="Tensors">Tensors ordered by their position in the data section.</param>
/// <param name="Metadata">The <c>__metadata__</c> map (empty when the file has none).</param>
public sealed record SafetensorsFile(IReadOnlyList<TensorData> Tensors, IReadOnlyDictionary<string, string> Metadata);
