using System.Text.Json;
using RwkvQuant.Formats;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;

namespace RwkvQuant.ModelFiles;

/// <summary>
/// A <c>.rwkvq</c> file whose header is read and checked — metadata, every quantized tensor's description, which
/// entries are parts and which are full-precision tensors, the config against the declared shapes — and whose quantized
/// tensors are decoded from their parts one at a time, when asked for. The engine builds itself through this, so a
/// model's quantized tensors are never all decoded at once beside the engine's re-laid copies of them;
/// <see cref="QuantizedModelFile.Load"/> decodes them all. Either way every part is checked (<see cref="CheckComplete"/>).
/// </summary>
internal sealed class QuantizedModelContents
{
    private readonly string _path;
    private readonly Dictionary<string, TensorData> _entries;
    private readonly Dictionary<string, QuantizedTensorDescription> _descriptions;
    private readonly IReadOnlyList<(string Entry, string Owner)> _parts;
    private readonly HashSet<string> _consumed = new(StringComparer.Ordinal);
    private readonly HashSet<string> _decoded = new(StringComparer.Ordinal);

    internal QuantizedModelContents(string path, RwkvConfig config, IReadOnlyList<QuantizedTensorDescription> descriptions,
        Dictionary<string, TensorData> entries, IReadOnlyList<(string Entry, string Owner)> parts, IReadOnlyList<TensorData> fullPrecision)
    {
        _parts = parts;
        _path = path;
        Config = config;
        _entries = entries;
        _descriptions = descriptions.ToDictionary(d => d.Name, StringComparer.Ordinal);
        QuantizedNames = [.. descriptions.Select(d => d.Name)];
        FullPrecisionTensors = fullPrecision;
    }

    /// <summary>The file's path, for messages.</summary>
    public string Path => _path;

    /// <summary>The architecture (checked against the tensors' declared shapes).</summary>
    public RwkvConfig Config { get; }

    /// <summary>The quantized tensors' names, in the file's order.</summary>
    public IReadOnlyList<string> QuantizedNames { get; }

    /// <summary>The full-precision tensors (F16, BF16 or F32), as the container holds them (possibly file-backed).</summary>
    public IReadOnlyList<TensorData> FullPrecisionTensors { get; }

    /// <summary>What the header says of each tensor, without decoding any (name, scheme, parameters, stored bits).</summary>
    public IReadOnlyList<StoredTensorInfo> Tensors =>
        [.. QuantizedNames.Select(n => _descriptions[n]).Select(d => new StoredTensorInfo(d.Name, d.Scheme, true, d.Parameters, d.StoredBits)),
         .. FullPrecisionTensors.Select(StoredTensorInfo.FullPrecision)];

    /// <summary>True when <paramref name="name"/> is a quantized tensor of the file.</summary>
    public bool IsQuantized(string name) => _descriptions.ContainsKey(name);

    /// <summary>Decodes quantized tensor <paramref name="name"/> from its parts (read from the file now if file-backed).</summary>
    /// <exception cref="InvalidDataException">A part is missing, mis-sized or contradicts the description (the message
    /// names the file and the tensor).</exception>
    /// <exception cref="KeyNotFoundException">The file has no quantized tensor of that name.</exception>
    public QuantizedSlot Decode(string name)
    {
        if (!_descriptions.TryGetValue(name, out QuantizedTensorDescription? description))
            throw new KeyNotFoundException($"'{_path}' has no quantized tensor '{name}'.");
        var parts = new TensorPartReader(_path, name, _entries, _consumed);
        QuantizedSlot slot;
        try
        {
            slot = new QuantizedSlot(description.Codec.Decode(name, description.Rows, description.Columns, description.Element, parts),
                description.Layout, description.Shape);
            slot.Validate();
        }
        catch (Exception exception) when (exception is ArgumentException or OverflowException)
        {
            throw parts.Error(exception.Message);
        }
        if (slot.Tensor.StoredBits != description.StoredBits)
            throw parts.Error($"the parts hold {slot.Tensor.StoredBits} bits, but the metadata says {description.StoredBits}.");
        _decoded.Add(name);
        return slot;
    }

    /// <summary>
    /// Decodes (and lets go) every quantized tensor not decoded yet, then checks that every entry was either a part of
    /// its tensor's scheme or a full-precision tensor: what <see cref="QuantizedModelFile.Load"/> checks, for a caller
    /// that decoded only the tensors it needed.
    /// </summary>
    /// <exception cref="InvalidDataException">A tensor does not decode, or an entry is not a part of its scheme.</exception>
    public void CheckComplete()
    {
        foreach (string name in QuantizedNames)
            if (!_decoded.Contains(name))
                Decode(name);
        foreach ((string entry, string owner) in _parts)
            if (!_consumed.Contains(entry))
                throw ModelFileError.Create(_path, owner, $"entry '{entry}' is not a part of its scheme.");
    }
}

/// <summary>One quantized tensor as the <c>.rwkvq</c> header describes it, before its parts are read; <c>Parameters</c>
/// is its weight count, the product of <c>Shape</c> (checked equal to rows × columns).</summary>
internal sealed record QuantizedTensorDescription(
    string Name, QuantizedTensorCodec Codec, string Scheme, int Rows, int Columns, LinearLayout Layout,
    IReadOnlyList<long> Shape, long Parameters, long StoredBits, JsonElement Element);
