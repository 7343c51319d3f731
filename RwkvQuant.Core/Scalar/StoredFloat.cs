using System.Buffers.Binary;

namespace RwkvQuant.Scalar;

/// <summary>
/// Rounding to, and encoding in, a <see cref="ScalePrecision"/>. Scales and zeros are never negative, so only
/// non-negative values are rounded here; every returned float is exactly representable in the precision.
/// </summary>
internal static class StoredFloat
{
    /// <summary>Bits one value takes.</summary>
    public static int BitCount(ScalePrecision precision) => precision switch
    {
        ScalePrecision.F16 or ScalePrecision.BF16 => 16,
        ScalePrecision.F32 => 32,
        _ => throw new ArgumentOutOfRangeException(nameof(precision), precision, "Unknown scale precision."),
    };

    /// <summary>The smallest representable value ≥ <paramref name="value"/> (≥ 0); +∞ when it overflows.</summary>
    public static float Ceiling(double value, ScalePrecision precision)
    {
        float f = (float)value;
        if (f < value)
            f = MathF.BitIncrement(f);
        switch (precision)
        {
            case ScalePrecision.F32:
                return f;
            case ScalePrecision.F16:
                Half h = (Half)f;
                if ((float)h < f)
                    h = Half.BitIncrement(h);
                return (float)h;
            case ScalePrecision.BF16:
                uint bits = BitConverter.SingleToUInt32Bits(f);
                uint truncated = bits & 0xFFFF_0000u;
                return BitConverter.UInt32BitsToSingle(truncated == bits ? truncated : truncated + 0x1_0000u);
            default:
                throw new ArgumentOutOfRangeException(nameof(precision), precision, "Unknown scale precision.");
        }
    }

    /// <summary>The largest representable value ≤ <paramref name="value"/> (≥ 0).</summary>
    public static float Floor(double value, ScalePrecision precision)
    {
        float f = (float)value;
        if (f > value)
            f = MathF.BitDecrement(f);
        switch (precision)
        {
            case ScalePrecision.F32:
                return f;
            case ScalePrecision.F16:
                Half h = (Half)f;
                if ((float)h > f)
                    h = Half.BitDecrement(h);
                return (float)h;
            case ScalePrecision.BF16:
                return BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(f) & 0xFFFF_0000u);
            default:
                throw new ArgumentOutOfRangeException(nameof(precision), precision, "Unknown scale precision.");
        }
    }

    /// <summary>The next representable value above <paramref name="value"/> (itself representable, ≥ 0).</summary>
    public static float NextUp(float value, ScalePrecision precision) => precision switch
    {
        ScalePrecision.F32 => MathF.BitIncrement(value),
        ScalePrecision.F16 => (float)Half.BitIncrement((Half)value),
        ScalePrecision.BF16 => BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(value) + 0x1_0000u),
        _ => throw new ArgumentOutOfRangeException(nameof(precision), precision, "Unknown scale precision."),
    };

    /// <summary>Encodes <paramref name="values"/> (each representable) little-endian in the precision.</summary>
    public static byte[] Encode(ReadOnlySpan<float> values, ScalePrecision precision)
    {
        int size = BitCount(precision) / 8;
        var bytes = new byte[(long)values.Length * size];
        for (int i = 0; i < values.Length; i++)
        {
            Span<byte> slot = bytes.AsSpan(i * size, size);
            switch (precision)
            {
                case ScalePrecision.F32:
                    BinaryPrimitives.WriteSingleLittleEndian(slot, values[i]);
                    break;
                case ScalePrecision.F16:
                    BinaryPrimitives.WriteHalfLittleEndian(slot, (Half)values[i]);
                    break;
                default:
                    BinaryPrimitives.WriteUInt16LittleEndian(slot, (ushort)(BitConverter.SingleToUInt32Bits(values[i]) >> 16));
                    break;
            }
        }
        return bytes;
    }

    /// <summary>Decodes value <paramref name="index"/> of <paramref name="bytes"/>.</summary>
    public static float Decode(ReadOnlySpan<byte> bytes, long index, ScalePrecision precision) => precision switch
    {
        ScalePrecision.F32 => BinaryPrimitives.ReadSingleLittleEndian(bytes[(int)(index * 4)..]),
        ScalePrecision.F16 => (float)BinaryPrimitives.ReadHalfLittleEndian(bytes[(int)(index * 2)..]),
        ScalePrecision.BF16 => BitConverter.UInt32BitsToSingle((uint)BinaryPrimitives.ReadUInt16LittleEndian(bytes[(int)(index * 2)..]) << 16),
        _ => throw new ArgumentOutOfRangeException(nameof(precision), precision, "Unknown scale precision."),
    };
}
