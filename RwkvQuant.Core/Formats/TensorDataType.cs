namespace RwkvQuant.Formats;

/// <summary>Element type of a stored tensor. Names follow safetensors' dtype strings.</summary>
public enum TensorDataType
{
    /// <summary>IEEE 754 binary32.</summary>
    F32,
    /// <summary>IEEE 754 binary16.</summary>
    F16,
    /// <summary>bfloat16 (the upper half of a binary32).</summary>
    BF16,
    /// <summary>IEEE 754 binary64.</summary>
    F64,
    /// <summary>Signed 8-bit integer.</summary>
    I8,
    /// <summary>Unsigned 8-bit integer (also used for packed codes).</summary>
    U8,
    /// <summary>Signed 16-bit integer.</summary>
    I16,
    /// <summary>Unsigned 16-bit integer.</summary>
    U16,
    /// <summary>Signed 32-bit integer.</summary>
    I32,
    /// <summary>Unsigned 32-bit integer.</summary>
    U32,
    /// <summary>Signed 64-bit integer.</summary>
    I64,
    /// <summary>Unsigned 64-bit integer.</summary>
    U64,
    /// <summary>Boolean, one byte per element.</summary>
    Bool,
}

/// <summary>Sizes and names of <see cref="TensorDataType"/> values.</summary>
public static class TensorDataTypes
{
    /// <summary>Bytes per element.</summary>
    public static int SizeOf(this TensorDataType type) => type switch
    {
        TensorDataType.F32 or TensorDataType.I32 or TensorDataType.U32 => 4,
        TensorDataType.F16 or TensorDataType.BF16 or TensorDataType.I16 or TensorDataType.U16 => 2,
        TensorDataType.F64 or TensorDataType.I64 or TensorDataType.U64 => 8,
        TensorDataType.I8 or TensorDataType.U8 or TensorDataType.Bool => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown tensor data type."),
    };

    /// <summary>True for the floating-point types that convert to <see cref="float"/>.</summary>
    public static bool IsFloatingPoint(this TensorDataType type) =>
        type is TensorDataType.F32 or TensorDataType.F16 or TensorDataType.BF16 or TensorDataType.F64;
}
