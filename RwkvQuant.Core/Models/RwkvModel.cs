using RwkvQuant.Formats;

namespace RwkvQuant.Models;

/// <summary>
/// An RWKV model in canonical form: BlinkDL's key names and tensor layouts (<c>emb.weight</c>,
/// <c>blocks.{i}.att.receptance.weight</c>, …, <c>head.weight</c>) as float32, whatever file it came from,
/// plus the <see cref="RwkvConfig"/> inferred from the tensors. Immutable.
/// </summary>
public sealed class RwkvModel
{
    /// <summary>Creates a model from canonical tensors (converted to float32) and a config.</summary>
    public RwkvModel(RwkvConfig config, IEnumerable<TensorData> tensors, string? sourcePath = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(tensors);
        var map = new Dictionary<string, TensorData>(StringComparer.Ordinal);
        foreach (TensorData tensor in tensors)
        {
            if (!map.TryAdd(tensor.Name, tensor.ToFloat32()))
                throw new ArgumentException($"Tensor '{tensor.Name}' appears twice.", nameof(tensors));
        }
        Config = config;
        Tensors = map;
        SourcePath = sourcePath;
    }

    /// <summary>The architecture.</summary>
    public RwkvConfig Config { get; }

    /// <summary>All tensors by canonical name, float32.</summary>
    public IReadOnlyDictionary<string, TensorData> Tensors { get; }

    /// <summary>The file the model was loaded from, if any.</summary>
    public string? SourcePath { get; }

    /// <summary>Total number of parameters (elements of all tensors).</summary>
    public long ParameterCount => Tensors.Values.Sum(t => t.ElementCount);

    /// <summary>The tensor named <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No such tensor (the message names it and the source).</exception>
    public TensorData this[string name] =>
        Tensors.TryGetValue(name, out TensorData? tensor)
            ? tensor
            : throw new KeyNotFoundException($"Model{(SourcePath is null ? "" : $" '{SourcePath}'")} has no tensor '{name}'.");
}
