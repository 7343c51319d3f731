using RwkvQuant.Formats;

namespace RwkvQuant.ModelFiles;

/// <summary>How one tensor of a <see cref="QuantizedModel"/> is stored and what it costs.</summary>
/// <param name="Name">The canonical (BlinkDL) tensor name.</param>
/// <param name="Scheme">The quantized tensor's <see cref="Quantization.QuantizedTensor.Scheme"/>, or the full-precision type
/// (<c>"f16"</c>, <c>"bf16"</c>, <c>"f32"</c>).</param>
/// <param name="IsQuantized">True for a quantized tensor, false for one kept in full precision.</param>
/// <param name="Parameters">Number of weights.</param>
/// <param name="StoredBits">Every stored bit: codes, scales, zeros, codebooks, factors; or elements × type width.</param>
public sealed record StoredTensorInfo(string Name, string Scheme, bool IsQuantized, long Parameters, long StoredBits)
{
    /// <summary>Stored bits per weight, <c>StoredBits / Parameters</c>.</summary>
    public double BitsPerWeight => Parameters == 0 ? 0 : (double)StoredBits / Parameters;

    /// <summary>A tensor kept in full precision: its type (lower case) as the scheme, elements × type width as the bits.</summary>
    internal static StoredTensorInfo FullPrecision(TensorData tensor) =>
        new(tensor.Name, tensor.Type.ToString().ToLowerInvariant(), false, tensor.ElementCount, tensor.ElementCount * tensor.Type.SizeOf() * 8);
}
