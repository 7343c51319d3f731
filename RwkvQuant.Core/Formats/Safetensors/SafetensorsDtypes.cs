namespace RwkvQuant.Formats.Safetensors;

/// <summary>safetensors dtype strings of <see cref="TensorDataType"/> values.</summary>
internal static class SafetensorsDtypes
{
    private static readonly Dictionary<string, TensorDataType> ByName = new(StringComparer.Ordinal)
    {
        ["F32"] = TensorDataType.F32,
        ["F16"] = TensorDataType.F16,
        ["BF16"] = TensorDataType.BF16,
        ["F64"] = TensorDataType.F64,
        ["I8"] = TensorDataType.I8,
        ["U8"] = TensorDataType.U8,
        ["I16"] = TensorDataType.I16,
        ["U16"] = TensorDataType.U16,
        ["I32"] = TensorDataType.I32,
        ["U32"] = TensorDataType.U32,
        ["I64"] = TensorDataType.I64,
        ["U64"] = TensorDataType.U64,
        ["BOOL"] = TensorDataType.Bool,
    };

    public static bool TryParse(string name, out TensorDataType type) => ByName.TryGetValue(name, out type);

    public static string Name(TensorDataType type) => type switch
    {
        TensorDataType.Bool => "BOOL",
        _ when Enum.IsDefined(type) => type.ToString().ToUpperInvariant(),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown tensor data type."),
    };
}
