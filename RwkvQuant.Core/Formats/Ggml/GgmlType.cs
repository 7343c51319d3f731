using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Formats.Ggml;

/// <summary>Tensor data types of rwkv.cpp's ggml model files (the numbers are the on-disk codes).</summary>
public enum GgmlType
{
    /// <summary>IEEE binary32.</summary>
    F32 = 0,
    /// <summary>IEEE binary16.</summary>
    F16 = 1,
    /// <summary>Blocks of 32: fp16 scale d, 32 × 4-bit codes; x = d·(q − 8).</summary>
    Q4_0 = 2,
    /// <summary>Blocks of 32: fp16 scale d, fp16 minimum m, 32 × 4-bit codes; x = d·q + m.</summary>
    Q4_1 = 3,
    /// <summary>Blocks of 32: fp16 d, 32 high bits, 32 × 4 low bits; x = d·(q − 16).</summary>
    Q5_0 = 7,
    /// <summary>Blocks of 32: fp16 d, fp16 m, 32 high bits, 32 × 4 low bits; x = d·q + m.</summary>
    Q5_1 = 8,
    /// <summary>Blocks of 32: fp16 d, 32 × int8; x = d·q.</summary>
    Q8_0 = 9,
}

/// <summary>Block geometry of <see cref="GgmlType"/> values (file version 101 layouts).</summary>
public static class GgmlTypes
{
    /// <summary>Values per block of the quantized types (the kernels' <see cref="PackedGgmlBlocks.BlockSize"/>).</summary>
    public const int BlockSize = PackedGgmlBlocks.BlockSize;

    /// <summary>True for a type code this library reads.</summary>
    public static bool IsKnown(int code) => code is 0 or 1 or 2 or 3 or 7 or 8 or 9;

    /// <summary>True for the block-quantized types.</summary>
    public static bool IsQuantized(this GgmlType type) => type is not (GgmlType.F32 or GgmlType.F16);

    /// <summary>Bytes one block of 32 values takes (or one value, for F32/F16); block sizes come from the kernels' one table.</summary>
    public static int BytesPerBlock(this GgmlType type) => type switch
    {
        GgmlType.F32 => 4,
        GgmlType.F16 => 2,
        _ => PackedGgmlBlocks.BytesPerBlock(type.ToBlockType()),
    };

    /// <summary>The kernels' name of a block-quantized type.</summary>
    /// <exception cref="ArgumentOutOfRangeException">F32, F16 or an unknown type.</exception>
    internal static GgmlBlockType ToBlockType(this GgmlType type) => type switch
    {
        GgmlType.Q4_0 => GgmlBlockType.Q4_0,
        GgmlType.Q4_1 => GgmlBlockType.Q4_1,
        GgmlType.Q5_0 => GgmlBlockType.Q5_0,
        GgmlType.Q5_1 => GgmlBlockType.Q5_1,
        GgmlType.Q8_0 => GgmlBlockType.Q8_0,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Not a block-quantized ggml type."),
    };

    /// <summary>Bytes that <paramref name="elementCount"/> values take, or −1 when a quantized type's count is not a multiple of 32.</summary>
    public static long StorageSize(this GgmlType type, long elementCount)
    {
        if (!type.IsQuantized())
            return elementCount * type.BytesPerBlock();
        return elementCount % BlockSize != 0 ? -1 : elementCount / BlockSize * type.BytesPerBlock();
    }
}
