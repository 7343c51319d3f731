using System.Runtime.InteropServices;
using RwkvQuant.Kernels.MatVec;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Formats.Ggml;

/// <summary>
/// Conversion of ggml storage to float32 (rwkv.cpp file version 101): F32 and F16 values, and quantized blocks by the
/// kernels' one reference block decoder (<see cref="PackedReference.DecodeBlock(GgmlBlockType, ReadOnlySpan{byte}, Span{float})"/>).
/// </summary>
internal static class GgmlBlocks
{
    private const int Block = GgmlTypes.BlockSize;

    /// <summary>Converts stored data of <paramref name="type"/> to float32 values.</summary>
    /// <exception cref="ArgumentException">
    /// <paramref name="source"/> is not exactly the storage of <paramref name="destination"/>'s length of values.
    /// </exception>
    public static void Dequantize(GgmlType type, ReadOnlySpan<byte> source, Span<float> destination)
    {
        long expected = type.StorageSize(destination.Length);
        if (expected < 0)
            throw new ArgumentException($"{type} holds values in blocks of {Block}; {destination.Length} values is not a multiple.", nameof(destination));
        if (source.Length != expected)
            throw new ArgumentException($"{destination.Length} values of {type} take {expected} bytes, got {source.Length}.", nameof(source));

        switch (type)
        {
            case GgmlType.F32:
                MemoryMarshal.Cast<byte, float>(source).CopyTo(destination);
                break;
            case GgmlType.F16:
                ReadOnlySpan<Half> halves = MemoryMarshal.Cast<byte, Half>(source);
                for (int i = 0; i < destination.Length; i++)
                    destination[i] = (float)halves[i];
                break;
            case GgmlType.Q4_0:
            case GgmlType.Q4_1:
            case GgmlType.Q5_0:
            case GgmlType.Q5_1:
            case GgmlType.Q8_0:
                int blockBytes = type.BytesPerBlock();
                GgmlBlockType blockType = type.ToBlockType();
                for (int b = 0; b < destination.Length / Block; b++)
                    PackedReference.DecodeBlock(blockType, source.Slice(b * blockBytes, blockBytes), destination.Slice(b * Block, Block));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown ggml type.");
        }
    }
}
