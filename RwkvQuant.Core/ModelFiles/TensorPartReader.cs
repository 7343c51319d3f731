using System.Text.Json;
using RwkvQuant.Formats;

namespace RwkvQuant.ModelFiles;

/// <summary>
/// Hands a codec the safetensors entries <c>{tensor}.{suffix}</c> of one quantized tensor, checking type and shape,
/// and reads its JSON parameters; every problem is an <see cref="InvalidDataException"/> naming the file and tensor.
/// </summary>
internal sealed class TensorPartReader(string path, string tensorName, IReadOnlyDictionary<string, TensorData> entries, HashSet<string> consumed)
{
    /// <summary>The tensor's name.</summary>
    public string TensorName => tensorName;

    /// <summary>
    /// The bytes of part <paramref name="suffix"/>, which must have <paramref name="type"/> and <paramref name="shape"/>
    /// and, when floating point (scales, zeros, steps, codebooks), hold only finite values: a NaN or infinite scale
    /// would otherwise give NaN dequantized weights and different, finite but wrong, results on the engine's kernels.
    /// </summary>
    public byte[] Take(string suffix, TensorDataType type, params long[] shape)
    {
        string name = $"{tensorName}.{suffix}";
        if (!entries.TryGetValue(name, out TensorData? entry))
            throw Error($"part '{name}' is missing.");
        if (entry.Type != type || !entry.Shape.SequenceEqual(shape))
            throw Error($"part '{name}' is {entry.Type} [{string.Join(", ", entry.Shape)}], expected {type} [{string.Join(", ", shape)}].");
        byte[] bytes = entry.ToByteArray();
        var part = new TensorData(name, type, entry.Shape, bytes);
        if (part.IndexOfNonFinite() is var index and >= 0)
            throw Error($"part '{name}' holds {part.ToFloatArray()[index]} at index {index}; stored scales, zeros and codebooks must be finite.");
        consumed.Add(name);
        return bytes;
    }

    /// <summary>Integer field <paramref name="key"/> in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public int Int(JsonElement parameters, string key, int min, int max)
    {
        if (!parameters.TryGetProperty(key, out JsonElement value) || value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out int result))
            throw Error($"metadata field '{key}' is missing or not an integer.");
        if (result < min || result > max)
            throw Error($"metadata field '{key}' is {result}, outside [{min}, {max}].");
        return result;
    }

    /// <summary>Non-empty string field <paramref name="key"/>.</summary>
    public string Text(JsonElement parameters, string key)
    {
        if (!parameters.TryGetProperty(key, out JsonElement value) || value.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(value.GetString()))
            throw Error($"metadata field '{key}' is missing or not a non-empty string.");
        return value.GetString()!;
    }

    /// <summary>Boolean field <paramref name="key"/>.</summary>
    public bool Flag(JsonElement parameters, string key)
    {
        if (!parameters.TryGetProperty(key, out JsonElement value) || value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            throw Error($"metadata field '{key}' is missing or not a boolean.");
        return value.GetBoolean();
    }

    /// <summary>Enum field <paramref name="key"/>, by member name.</summary>
    public TEnum Enum<TEnum>(JsonElement parameters, string key)
        where TEnum : struct, Enum
    {
        string text = Text(parameters, key);
        if (!System.Enum.TryParse(text, ignoreCase: false, out TEnum result) || !System.Enum.IsDefined(result) || int.TryParse(text, out _))
            throw Error($"metadata field '{key}' is '{text}', not one of {string.Join(", ", System.Enum.GetNames<TEnum>())}.");
        return result;
    }

    /// <summary>The exception for a problem with this tensor.</summary>
    public InvalidDataException Error(string message) => ModelFileError.Create(path, tensorName, message);
}
