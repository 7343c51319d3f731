using RwkvQuant.Formats;

namespace RwkvQuant.Models;

/// <summary>
/// An RWKV model in canonical form: BlinkDL's key names and tensor layouts (<c>emb.weight</c>,
/// <c>blocks.{i}.att.receptance.weight</c>, …, <c>head.weight</c>), whatever file it came from, plus the
/// <see cref="RwkvConfig"/> inferred from the tensors. Immutable. Each tensor keeps the floating-point type it was
/// stored in (an FP16 checkpoint stays 2 bytes per weight in memory); read values with
/// <see cref="TensorData.ToFloatArray"/>, which converts. Networks and quantizers expand one tensor or block at a time.
/// </summary>
public sealed class RwkvModel
{
    /// <summary>Creates a model from canonical tensors (kept in their floating-point type) and a config.</summary>
    /// <exception cref="ArgumentException">A name appears twice, or a tensor is not floating point.</exception>
    public RwkvModel(RwkvConfig config, IEnumerable<TensorData> tensors, string? sourcePath = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(tensors);
        var map = new Dictionary<string, TensorData>(StringComparer.Ordinal);
        foreach (TensorData tensor in tensors)
        {
            if (!tensor.Type.IsFloatingPoint())
                throw new ArgumentException($"Tensor '{tensor.Name}' has type {tensor.Type}; a model holds floating-point tensors.", nameof(tensors));
            if (!map.TryAdd(tensor.Name, tensor))
                throw new ArgumentException($"Tensor '{tensor.Name}' appears twice.", nameof(tensors));
        }
        Config = config;
        Tensors = map;
        SourcePath = sourcePath;
    }

    /// <summary>
    /// This model with the tensors in <paramref name="replacements"/> (by canonical name) in place of its own — a model
    /// with some weights quantized and dequantized, for a network to run; the other tensors are shared, not copied.
    /// </summary>
    public RwkvModel WithTensors(IReadOnlyDictionary<string, TensorData> replacements)
    {
        ArgumentNullException.ThrowIfNull(replacements);
        return new RwkvModel(Config, Tensors.Values.Select(t => replacements.GetValueOrDefault(t.Name, t)), SourcePath);
    }

    /// <summary>The architecture.</summary>
    public RwkvConfig Config { get; }

    /// <summary>All tensors by canonical name, each in its stored floating-point type.</summary>
    public IReadOnlyDictionary<string, TensorData> Tensors { get; }

    /// <summary>The file the model was loaded from, if any.</summary>
    public string? SourcePath { get; }

    /// <summary>Total number of parameters (elements of all tensors).</summary>
    public long ParameterCount => Tensors.Values.Sum(t => t.ElementCount);

    /// <summary>
    /// The first tensor (in name order) that holds a NaN or an infinity, with the index and value of its first such
    /// value, or null when every weight is finite. Reads every tensor once (file-backed tensors from the file).
    /// </summary>
    public NonFiniteWeight? FindNonFinite()
    {
        foreach (TensorData tensor in Tensors.Values.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            long index = tensor.IndexOfNonFinite();
            if (index >= 0)
                return new NonFiniteWeight(tensor.Name, index, tensor.ToFloatArray()[index]);
        }
        return null;
    }

    /// <summary>The tensor named <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No such tensor (the message names it and the source).</exception>
    public TensorData this[string name] =>
        Tensors.TryGetValue(name, out TensorData? tensor)
            ? tensor
            : throw new KeyNotFoundException($"Model{(SourcePath is null ? "" : $" '{SourcePath}'")} has no tensor '{name}'.");
}

/// <summary>A NaN or infinite weight: the tensor, the value's flat index in it, and the value.</summary>
public sealed record NonFiniteWeight(string Tensor, long Index, float Value)
{
    /// <summary>"tensor 'x' holds NaN at index i" (or +∞/−∞).</summary>
    public override string ToString() =>
        $"tensor '{Tensor}' holds {(float.IsNaN(Value) ? "NaN" : Value > 0 ? "+infinity" : "-infinity")} at index {Index}";
}
