using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
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

    /// <summary>
    /// Decodes <c>destination.Length</c> values of <paramref name="format"/> from <paramref name="words"/> at once, bit for
    /// bit as <see cref="Decode(ReadOnlySpan{ushort}, int, ScaleFormat)"/>; halves 32 at a time in 512-bit registers
    /// where accelerated (the kernels decode every scale of a product, and <c>TensorPrimitives</c>' half conversion
    /// takes about 1.6 ns a value here).
    /// </summary>
    public static void DecodeAll(ReadOnlySpan<ushort> words, Span<float> destination, ScaleFormat format)
    {
        int count = destination.Length;
        switch (format)
        {
            case ScaleFormat.F16:
                int i = Vector512.IsHardwareAccelerated ? HalvesToSingles512(words[..count], destination) : 0;
                for (; i < count; i++)
                    destination[i] = HalfToSingle(words[i]);
                break;
            case ScaleFormat.BF16:
                for (int k = 0; k < count; k++)
                    destination[k] = Interop.IntAsFloat((uint)words[k] << 16);
                break;
            default:
                MemoryMarshal.Cast<ushort, float>(words)[..count].CopyTo(destination);
                break;
        }
    }

    /// <summary>The 16 consecutive values of <paramref name="format"/> at <paramref name="words"/>, decoded in a 512-bit
    /// register as <see cref="Decode(ReadOnlySpan{ushort}, int, ScaleFormat)"/> does. AVX-512 only.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe Vector512<float> Decode16(ushort* words, ScaleFormat format) => format switch
    {
        ScaleFormat.F16 => HalvesToSingles(Avx512F.ConvertToVector512UInt32(Vector256.Load(words))),
        ScaleFormat.BF16 => (Avx512F.ConvertToVector512UInt32(Vector256.Load(words)) << 16).AsSingle(),
        _ => Vector512.Load((float*)words),
    };

    /// <summary>The 8 consecutive values of <paramref name="format"/> at <paramref name="words"/>, decoded in a 256-bit
    /// register as <see cref="Decode(ReadOnlySpan{ushort}, int, ScaleFormat)"/> does. AVX2 only.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe Vector256<float> Decode8(ushort* words, ScaleFormat format) => format switch
    {
        ScaleFormat.F16 => HalvesToSingles(Avx2.ConvertToVector256Int32(words).AsUInt32()),
        ScaleFormat.BF16 => (Avx2.ConvertToVector256Int32(words).AsUInt32() << 16).AsSingle(),
        _ => Vector256.Load((float*)words),
    };

    /// <summary>The 4 consecutive values of <paramref name="format"/> at <paramref name="words"/>, decoded in a 128-bit
    /// register (portable <see cref="Vector128"/> code) as <see cref="Decode(ReadOnlySpan{ushort}, int, ScaleFormat)"/> does.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe Vector128<float> Decode4(ushort* words, ScaleFormat format) => format switch
    {
        ScaleFormat.F16 => HalvesToSingles(Vector128.WidenLower(Vector128.CreateScalar(*(ulong*)words).AsUInt16())),
        ScaleFormat.BF16 => (Vector128.WidenLower(Vector128.CreateScalar(*(ulong*)words).AsUInt16()) << 16).AsSingle(),
        _ => Vector128.Load((float*)words),
    };

    /// <summary>Whole runs of 32 halves converted as <see cref="HalfToSingle"/> does; returns how many were done.</summary>
    private static int HalvesToSingles512(ReadOnlySpan<ushort> halves, Span<float> destination)
    {
        ref ushort source = ref MemoryMarshal.GetReference(halves);
        ref float target = ref MemoryMarshal.GetReference(destination);
        int i = 0;
        for (; i + 32 <= halves.Length; i += 32)
        {
            (Vector512<uint> low, Vector512<uint> high) = Vector512.Widen(Vector512.LoadUnsafe(ref source, (nuint)i));
            HalvesToSingles(low).StoreUnsafe(ref target, (nuint)i);
            HalvesToSingles(high).StoreUnsafe(ref target, (nuint)(i + 16));
        }
        return i;
    }

    /// <summary>
    /// Half bits (one per lane) to float32: the magnitude's bits moved into place and multiplied by 2^112 (exact for
    /// normals, subnormals and zero), infinities and NaNs (exponent 31) rebuilt with their payload, then the sign.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> HalvesToSingles(Vector512<uint> bits)
    {
        Vector512<uint> finite = (((bits & Vector512.Create(0x7FFFu)) << 13).AsSingle() * Vector512.Create(0x7780_0000u).AsSingle() /* 2^112 */).AsUInt32();
        Vector512<uint> exponent = bits & Vector512.Create(0x7C00u);
        Vector512<uint> special = Vector512.Create(0x7F80_0000u) | ((bits & Vector512.Create(0x3FFu)) << 13);
        Vector512<uint> magnitude = Vector512.ConditionalSelect(Vector512.Equals(exponent, Vector512.Create(0x7C00u)), special, finite);
        return (magnitude | ((bits & Vector512.Create(0x8000u)) << 16)).AsSingle();
    }

    /// <summary>As the 512-bit <see cref="HalvesToSingles(Vector512{uint})"/>, eight lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> HalvesToSingles(Vector256<uint> bits)
    {
        Vector256<uint> finite = (((bits & Vector256.Create(0x7FFFu)) << 13).AsSingle() * Vector256.Create(0x7780_0000u).AsSingle() /* 2^112 */).AsUInt32();
        Vector256<uint> exponent = bits & Vector256.Create(0x7C00u);
        Vector256<uint> special = Vector256.Create(0x7F80_0000u) | ((bits & Vector256.Create(0x3FFu)) << 13);
        Vector256<uint> magnitude = Vector256.ConditionalSelect(Vector256.Equals(exponent, Vector256.Create(0x7C00u)), special, finite);
        return (magnitude | ((bits & Vector256.Create(0x8000u)) << 16)).AsSingle();
    }

    /// <summary>As the 512-bit <see cref="HalvesToSingles(Vector512{uint})"/>, four lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> HalvesToSingles(Vector128<uint> bits)
    {
        Vector128<uint> finite = (((bits & Vector128.Create(0x7FFFu)) << 13).AsSingle() * Vector128.Create(0x7780_0000u).AsSingle() /* 2^112 */).AsUInt32();
        Vector128<uint> exponent = bits & Vector128.Create(0x7C00u);
        Vector128<uint> special = Vector128.Create(0x7F80_0000u) | ((bits & Vector128.Create(0x3FFu)) << 13);
        Vector128<uint> magnitude = Vector128.ConditionalSelect(Vector128.Equals(exponent, Vector128.Create(0x7C00u)), special, finite);
        return (magnitude | ((bits & Vector128.Create(0x8000u)) << 16)).AsSingle();
    }
}
