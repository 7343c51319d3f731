using RwkvQuant.Formats;

namespace RwkvQuant.Pipeline.Serialization;

/// <summary>Collects the safetensors entries <c>{tensor}.{suffix}</c> of one quantized tensor.</summary>
internal sealed class TensorPartWriter(string tensorName, List<TensorData> entries)
{
    /// <summary>Adds part <paramref name="suffix"/> with a copy of <paramref name="bytes"/>.</summary>
    public void Add(string suffix, TensorDataType type, long[] shape, ReadOnlySpan<byte> bytes) =>
        entries.Add(new TensorData($"{tensorName}.{suffix}", type, shape, bytes.ToArray()));
}
