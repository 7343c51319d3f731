using RwkvQuant.Formats;
using RwkvQuant.Models;
using RwkvQuant.Quantization;

namespace RwkvQuant.ModelFiles;

/// <summary>
/// An RWKV model whose tensors are each either quantized (a <see cref="QuantizedTensor"/>: its packed codes, scales,
/// codebooks…) or kept in full precision (a <see cref="TensorData"/> as stored, e.g. the embedding and head in FP16 and
/// the 1-D parameters in FP32), plus its <see cref="RwkvConfig"/>. Immutable. Saved and loaded as a <c>.rwkvq</c> file
/// by <see cref="QuantizedModelFile"/>; <see cref="ToDequantizedModel"/> gives the canonical float32 model to run.
/// </summary>
/// <remarks>
/// Bits per weight are exact: every bit a quantized tensor stores (<see cref="QuantizedTensor.StoredBits"/>), and
/// elements × type width for full-precision tensors. <see cref="QuantizedBitsPerWeight"/> =
/// Σ StoredBits / Σ parameters over the quantized tensors; <see cref="BitsPerWeight"/> the same over every tensor.
/// </remarks>
public sealed class QuantizedModel
{
    private readonly IReadOnlyList<QuantizedSlot> _slots;

    internal QuantizedModel(RwkvConfig config, IEnumerable<QuantizedSlot> quantized, IEnumerable<TensorData> fullPrecision, string? sourcePath = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(quantized);
        ArgumentNullException.ThrowIfNull(fullPrecision);
        var names = new HashSet<string>(StringComparer.Ordinal);
        var slots = quantized.OrderBy(s => s.Tensor.Name, StringComparer.Ordinal).ToList();
        foreach (QuantizedSlot slot in slots)
        {
            if (!names.Add(slot.Tensor.Name))
                throw new ArgumentException($"Tensor '{slot.Tensor.Name}' appears twice.", nameof(quantized));
            slot.Validate();
        }
        var full = fullPrecision.OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        foreach (TensorData tensor in full)
        {
            if (!tensor.Type.IsFloatingPoint())
                throw new ArgumentException($"Full-precision tensor '{tensor.Name}' has type {tensor.Type}, not a floating-point type.", nameof(fullPrecision));
            if (!names.Add(tensor.Name))
                throw new ArgumentException($"Tensor '{tensor.Name}' appears twice (quantized and in full precision, or twice in full precision).", nameof(fullPrecision));
        }
        Config = config;
        _slots = slots;
        QuantizedTensors = slots.Select(s => s.Tensor).ToList();
        FullPrecisionTensors = full;
        SourcePath = sourcePath;
    }

    /// <summary>
    /// Builds a quantized model from <paramref name="source"/>: each of <paramref name="quantized"/> replaces the source
    /// tensor of the same name (a linear weight as its <c>[out, in]</c> matrix, which the canonical tensor may hold
    /// transposed; any other tensor, e.g. a vector, as its values in canonical order), <c>emb.weight</c> and
    /// <c>head.weight</c> are kept as <paramref name="embeddingType"/>, and every other tensor as F32.
    /// </summary>
    /// <exception cref="ArgumentException">A quantized tensor names no tensor of the source, or its shape does not
    /// match; <paramref name="embeddingType"/> is not F16, BF16 or F32.</exception>
    public static QuantizedModel Create(RwkvModel source, IEnumerable<QuantizedTensor> quantized, TensorDataType embeddingType = TensorDataType.F16)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(quantized);
        if (embeddingType is not (TensorDataType.F16 or TensorDataType.BF16 or TensorDataType.F32))
            throw new ArgumentException($"The embedding and head are kept as F16, BF16 or F32, not {embeddingType}.", nameof(embeddingType));
        var linear = LinearWeights.Of(source).ToDictionary(w => w.Name, StringComparer.Ordinal);
        var slots = new List<QuantizedSlot>();
        var replaced = new HashSet<string>(StringComparer.Ordinal);
        foreach (QuantizedTensor tensor in quantized)
        {
            ArgumentNullException.ThrowIfNull(tensor, nameof(quantized));
            if (!replaced.Add(tensor.Name))
                throw new ArgumentException($"Tensor '{tensor.Name}' is quantized twice.", nameof(quantized));
            slots.Add(SlotFor(source, linear, tensor));
        }
        return new QuantizedModel(source.Config, slots, KeptTensors(source, replaced, embeddingType), source.SourcePath);
    }

    /// <summary>Where <paramref name="tensor"/> goes in <paramref name="source"/> (<paramref name="linear"/>: its linear weights by name).</summary>
    /// <exception cref="ArgumentException">The tensor names no tensor of the model, or its shape does not match.</exception>
    internal static QuantizedSlot SlotFor(RwkvModel source, IReadOnlyDictionary<string, LinearWeight> linear, QuantizedTensor tensor)
    {
        if (!source.Tensors.TryGetValue(tensor.Name, out TensorData? canonical))
            throw new ArgumentException($"Quantized tensor '{tensor.Name}' names no tensor of the model.", nameof(tensor));
        LinearLayout layout = LinearLayout.OutIn;
        if (linear.TryGetValue(tensor.Name, out LinearWeight? weight))
        {
            if (weight.Rows != tensor.Rows || weight.Columns != tensor.Columns)
                throw new ArgumentException($"Quantized tensor '{tensor.Name}' is [{tensor.Rows}, {tensor.Columns}], but the model's weight is the [{weight.Rows}, {weight.Columns}] matrix.", nameof(tensor));
            layout = weight.Layout;
        }
        return new QuantizedSlot(tensor, layout, canonical.Shape);
    }

    /// <summary>
    /// <paramref name="source"/>'s tensors not in <paramref name="replaced"/>, as a quantized model keeps them:
    /// <c>emb.weight</c> and <c>head.weight</c> as <paramref name="embeddingType"/>, every other as F32. Lazy: each is
    /// converted when enumerated.
    /// </summary>
    internal static IEnumerable<TensorData> KeptTensors(RwkvModel source, IReadOnlySet<string> replaced, TensorDataType embeddingType = TensorDataType.F16) =>
        source.Tensors.Values
            .Where(t => !replaced.Contains(t.Name))
            .Select(t => t.Name is "emb.weight" or "head.weight" ? t.ConvertTo(embeddingType) : t.ToFloat32());

    /// <summary>The architecture.</summary>
    public RwkvConfig Config { get; }

    /// <summary>The quantized tensors, by name.</summary>
    public IReadOnlyList<QuantizedTensor> QuantizedTensors { get; }

    /// <summary>The tensors kept in full precision, as stored (F16, BF16 or F32), by name.</summary>
    public IReadOnlyList<TensorData> FullPrecisionTensors { get; }

    /// <summary>The file this model came from, if any.</summary>
    public string? SourcePath { get; }

    internal IReadOnlyList<QuantizedSlot> Slots => _slots;

    /// <summary>Every tensor with its scheme, parameters and stored bits: quantized tensors first, then full precision, each by name.</summary>
    public IReadOnlyList<StoredTensorInfo> Tensors =>
        [.. _slots.Select(s => new StoredTensorInfo(s.Tensor.Name, s.Tensor.Scheme, true, s.Tensor.ElementCount, s.Tensor.StoredBits)),
         .. FullPrecisionTensors.Select(StoredTensorInfo.FullPrecision)];

    /// <summary>Parameters of the quantized tensors.</summary>
    public long QuantizedParameterCount => QuantizedTensors.Sum(t => t.ElementCount);

    /// <summary>Stored bits of the quantized tensors.</summary>
    public long QuantizedStoredBits => QuantizedTensors.Sum(t => t.StoredBits);

    /// <summary>Parameter-weighted bits per weight over the quantized tensors (0 when none is quantized).</summary>
    public double QuantizedBitsPerWeight => QuantizedParameterCount == 0 ? 0 : (double)QuantizedStoredBits / QuantizedParameterCount;

    /// <summary>Parameters of every tensor.</summary>
    public long ParameterCount => QuantizedParameterCount + FullPrecisionTensors.Sum(t => t.ElementCount);

    /// <summary>Stored bits of every tensor, full-precision tensors at their stored width.</summary>
    public long StoredBits => QuantizedStoredBits + FullPrecisionTensors.Sum(t => t.ElementCount * t.Type.SizeOf() * 8);

    /// <summary>Parameter-weighted bits per weight over the whole model.</summary>
    public double BitsPerWeight => ParameterCount == 0 ? 0 : (double)StoredBits / ParameterCount;

    /// <summary>
    /// The canonical float32 model: every quantized tensor dequantized (<see cref="QuantizedTensor.Dequantize"/>) and put
    /// back in its canonical layout and shape, every full-precision tensor converted to float32.
    /// </summary>
    public RwkvModel ToDequantizedModel() =>
        new(Config, _slots.Select(s => s.ToCanonical()).Concat(FullPrecisionTensors.Select(t => t.ToFloat32())), SourcePath);

    /// <summary>The shape every tensor has in the model (<see cref="ToDequantizedModel"/>'s shapes, without dequantizing), by name.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<long>> CanonicalShapes =>
        _slots.Select(s => (s.Tensor.Name, s.CanonicalShape))
            .Concat(FullPrecisionTensors.Select(t => (t.Name, t.Shape)))
            .ToDictionary(p => p.Name, p => p.Item2, StringComparer.Ordinal);
}
