using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace RwkvQuant.Formats.Ggml;

/// <summary>
/// Reference conversions between ggml storage and float32 (ggml's public block layouts, rwkv.cpp file version 101).
/// Every quantized block holds 32 values; within a block, value j sits in the low nibble of <c>qs[j]</c> and value
/// j + 16 in the high nibble (Q4/Q5), and the fifth bit of value j is bit j of the little-endian uint32 <c>qh</c> (Q5).
/// </summary>
internal static class GgmlBlocks
{
    private const int Block = GgmlTypes.BlockSize;
    private const int HalfBlock = Block / 2;

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
                for (int b = 0; b < destination.Length / Block; b++)
                    DequantizeBlock(type, source.Slice(b * blockBytes, blockBytes), destination.Slice(b * Block, Block));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown ggml type.");
        }
    }

    /// <summary>Dequantizes one block of 32 values (<paramref name="block"/> is exactly one block's bytes).</summary>
    private static void DequantizeBlock(GgmlType type, ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = ReadHalf(block, 0);
        switch (type)
        {
            case GgmlType.Q4_0:
            {
                // block_q4_0 { fp16 d; u8 qs[16]; }: x = d·(q − 8)
                ReadOnlySpan<byte> qs = block.Slice(2, HalfBlock);
                for (int j = 0; j < HalfBlock; j++)
                {
                    y[j] = ((qs[j] & 0x0F) - 8) * d;
                    y[j + HalfBlock] = ((qs[j] >> 4) - 8) * d;
                }
                break;
            }
            case GgmlType.Q4_1:
            {
                // block_q4_1 { fp16 d; fp16 m; u8 qs[16]; }: x = d·q + m
                float m = ReadHalf(block, 2);
                ReadOnlySpan<byte> qs = block.Slice(4, HalfBlock);
                for (int j = 0; j < HalfBlock; j++)
                {
                    y[j] = (qs[j] & 0x0F) * d + m;
                    y[j + HalfBlock] = (qs[j] >> 4) * d + m;
                }
                break;
            }
            case GgmlType.Q5_0:
            {
                // block_q5_0 { fp16 d; u8 qh[4]; u8 qs[16]; }: x = d·(q − 16)
                uint qh = BinaryPrimitives.ReadUInt32LittleEndian(block.Slice(2, 4));
                ReadOnlySpan<byte> qs = block.Slice(6, HalfBlock);
                for (int j = 0; j < HalfBlock; j++)
                {
                    int low = (qs[j] & 0x0F) | (int)((qh >> j) << 4 & 0x10);
                    int high = (qs[j] >> 4) | (int)((qh >> (j + HalfBlock)) << 4 & 0x10);
                    y[j] = (low - 16) * d;
                    y[j + HalfBlock] = (high - 16) * d;
                }
                break;
            }
            case GgmlType.Q5_1:
            {
                // block_q5_1 { fp16 d; fp16 m; u8 qh[4]; u8 qs[16]; }: x = d·q + m
                float m = ReadHalf(block, 2);
                uint qh = BinaryPrimitives.ReadUInt32LittleEndian(block.Slice(4, 4));
                ReadOnlySpan<byte> qs = block.Slice(8, HalfBlock);
                for (int j = 0; j < HalfBlock; j++)
                {
                    int low = (qs[j] & 0x0F) | (int)((qh >> j) << 4 & 0x10);
                    int high = (qs[j] >> 4) | (int)((qh >> (j + HalfBlock)) << 4 & 0x10);
                    y[j] = low * d + m;
                    y[j + HalfBlock] = high * d + m;
                }
                break;
            }
            case GgmlType.Q8_0:
            {
                // block_q8_0 { fp16 d; i8 qs[32]; }: x = d·q
                ReadOnlySpan<byte> qs = block.Slice(2, Block);
                for (int j = 0; j < Block; j++)
                    y[j] = (sbyte)qs[j] * d;
                break;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "Not a block-quantized ggml type.");
        }
    }

    private static float ReadHalf(ReadOnlySpan<byte> bytes, int offset) =>
        (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(bytes.Slice(offset, 2)));
}
