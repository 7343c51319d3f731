using System.Runtime.CompilerServices;
using ILGPU;

namespace RwkvQuant.Kernels.Packed;

/// <summary>
/// Decoding of floats stored as 16-bit words (<see cref="ScaleFormat"/>), written with integer operations only so that
/// ILGPU kernels and the CPU paths share it and agree bit for bit with <see cref="System.Half"/> and float32.
/// </summary>
internal static class ScaleWords
{
    /// <summary>Words one value takes: 2 for F32, else 1.</summary>
    public static int WordsPerValue(ScaleFormat format) => format == ScaleFormat.F32 ? 2 : 1;

    /// <summary>The value whose words start at <paramref name="index"/> of <paramref name="words"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Decode(ReadOnlySpan<ushort> words, int index, ScaleFormat format) => format switch
    {
        ScaleFormat.F16 => HalfToSingle(words[index]),
        ScaleFormat.BF16 => Interop.IntAsFloat((uint)words[index] << 16),
        _ => Interop.IntAsFloat(words[index] | ((uint)words[index + 1] << 16)),
    };

    /// <summary>Like <see cref="Decode(ReadOnlySpan{ushort}, int, ScaleFormat)"/> for kernels; <paramref name="format"/> is the enum's value.</summary>
    public static float Decode(ArrayView<ushort> words, long index, int format) =>
        format == (int)ScaleFormat.F16 ? HalfToSingle(words[index])
        : format == (int)ScaleFormat.BF16 ? Interop.IntAsFloat((uint)words[index] << 16)
        : Interop.IntAsFloat(words[index] | ((uint)words[index + 1] << 16));

    /// <summary>IEEE half to float32, exactly (every half is a float32): normals, subnormals, ±0, ±∞ and NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HalfToSingle(ushort half)
    {
        uint sign = (uint)(half & 0x8000) << 16;
        uint exponent = (uint)(half >> 10) & 0x1F;
        uint mantissa = half & 0x3FFu;
        if (exponent == 0x1F)
            return Interop.IntAsFloat(sign | 0x7F80_0000u | (mantissa << 13));
        if (exponent != 0)
            return Interop.IntAsFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
        // ±0 and subnormals: mantissa · 2^−24, exact in float32.
        float magnitude = mantissa * 5.9604644775390625E-8f;
        return sign != 0 ? -magnitude : magnitude;
    }
}
