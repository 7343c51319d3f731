using System.Text.Json;
using RwkvQuant.Quantization;

namespace RwkvQuant.ModelFiles;

/// <summary>
/// Stores one kind of <see cref="QuantizedTensor"/> in a <c>.rwkvq</c> file: its parameters as JSON fields of the
/// tensor's entry in the <c>"tensors"</c> metadata, and its packed parts as safetensors entries named
/// <c>{tensor}.{suffix}</c>. Each codec has a stable <see cref="SchemeId"/>; <see cref="QuantizedTensorCodecs"/> holds
/// them all. Decoding must check every size against the parameters before building the tensor.
/// </summary>
internal abstract class QuantizedTensorCodec
{
    /// <summary>The stable scheme id written as the entry's <c>"scheme"</c>.</summary>
    public abstract string SchemeId { get; }

    /// <summary>True when this codec stores <paramref name="tensor"/>.</summary>
    public abstract bool CanEncode(QuantizedTensor tensor);

    /// <summary>Writes the tensor's parameters into the open JSON object and adds its parts.</summary>
    public abstract void Encode(QuantizedTensor tensor, Utf8JsonWriter parameters, TensorPartWriter parts);

    /// <summary>Rebuilds the tensor named <paramref name="name"/> <c>[rows, columns]</c> from its parameters and parts.</summary>
    /// <exception cref="InvalidDataException">A parameter or part is missing or inconsistent.</exception>
    public abstract QuantizedTensor Decode(string name, int rows, int columns, JsonElement parameters, TensorPartReader parts);
}
