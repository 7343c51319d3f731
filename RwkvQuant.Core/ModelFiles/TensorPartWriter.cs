using RwkvQuant.Formats;

namespace RwkvQuant.ModelFiles;

/// <summary>Hands the safetensors entries <c>{tensor}.{suffix}</c> of one quantized tensor to the file being written.</summary>
internal sealed class TensorPartWriter(string tensorName, QuantizedModelWriter file)
{
    /// <summary>Adds part <paramref name="suffix"/> with <paramref name="bytes"/> (written at once; the span may be reused after).</summary>
    public void Add(string suffix, TensorDataType type, long[] shape, ReadOnlySpan<byte> bytes) =>
        file.AddPart($"{tensorName}.{suffix}", type, shape, bytes);
}
