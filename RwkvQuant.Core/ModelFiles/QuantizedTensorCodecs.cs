using RwkvQuant.Quantization;

namespace RwkvQuant.ModelFiles;

/// <summary>The registry of <see cref="QuantizedTensorCodec"/>s, keyed by scheme id. A new kind of quantized tensor is
/// stored by adding its codec here.</summary>
internal static class QuantizedTensorCodecs
{
    private static readonly QuantizedTensorCodec[] All =
        [new GroupScalarTensorCodec(), new VectorQuantizedTensorCodec(), new GgmlBlockTensorCodec(), new KQuantTensorCodec(), new MultiplicationVectorCodec()];

    private static readonly Dictionary<string, QuantizedTensorCodec> ById = All.ToDictionary(c => c.SchemeId, StringComparer.Ordinal);

    /// <summary>The codec that stores <paramref name="tensor"/>.</summary>
    /// <exception cref="ArgumentException">No codec stores this kind of tensor.</exception>
    public static QuantizedTensorCodec For(QuantizedTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        return All.FirstOrDefault(c => c.CanEncode(tensor))
               ?? throw new ArgumentException($"Tensor '{tensor.Name}' is a {tensor.GetType().Name}, which the .rwkvq format cannot store.", nameof(tensor));
    }

    /// <summary>The codec with scheme id <paramref name="schemeId"/>, or null.</summary>
    public static QuantizedTensorCodec? Find(string schemeId) => ById.GetValueOrDefault(schemeId);

    /// <summary>The known scheme ids, for error messages.</summary>
    public static IEnumerable<string> SchemeIds => ById.Keys;
}
