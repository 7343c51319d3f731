using System.Buffers.Binary;
using RwkvQuant.Formats.Ggml;

namespace RwkvQuant.Scalar.Ggml;

/// <summary>
/// Reference quantization of float32 values into ggml's block formats Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0, bit-exact with
/// ggml's <c>quantize_row_*_ref</c> (the code rwkv.cpp's quantizer runs), the twin of <see cref="GgmlBlocks"/>'
/// dequantization. Each block of 32 values is quantized on its own. Within a block, value j goes to the low nibble of
/// <c>qs[j]</c> and value j + 16 to the high nibble (Q4/Q5); the fifth bit of value j is bit j of the little-endian
/// uint32 <c>qh</c> (Q5).
/// </summary>
/// <remarks>
/// Bit-exactness rests on doing exactly ggml's float32 operations in ggml's order: the scale d and its inverse
/// id = 1/d (0 when d is 0) in float32; each code from <c>x·id</c> rounded to float32 and then a separate float32
/// addition of the offset (never a fused multiply-add: the weights are often FP16-representable, so exact ties are
/// common and a fused result would round them differently); the float-to-integer conversion truncates toward zero
/// (Q4/Q5) or rounds halves away from zero (Q8_0, C's <c>roundf</c>); d and m are stored as fp16 rounded to nearest
/// even. C# never contracts <c>a·b + c</c> into an FMA, and the intermediate products are stored in float locals.
/// </remarks>
internal static class GgmlBlockQuantizer
{
    private const int Block = GgmlTypes.BlockSize;
    private const int HalfBlock = Block / 2;

    /// <summary>Quantizes <paramref name="source"/> (a multiple of 32 values) into <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException">
    /// <paramref name="type"/> is not a block type, the value count is not a multiple of 32, or
    /// <paramref name="destination"/> is not exactly the storage size.
    /// </exception>
    /// <remarks>
    /// <paramref name="fusedMultiplyAdd"/> computes <c>x·id + offset</c> with one rounding, as ggml compiled with FMA
    /// contraction does (e.g. GCC with <c>-march=native</c> on an FMA machine). rwkv.cpp's reference outputs are made
    /// without it; only files from such builds need it (it changes a code by one where <c>x·id</c> rounds onto a tie).
    /// </remarks>
    public static void Quantize(GgmlType type, ReadOnlySpan<float> source, Span<byte> destination, bool fusedMultiplyAdd = false)
    {
        if (!type.IsQuantized())
            throw new ArgumentException($"{type} is not a block-quantized ggml type.", nameof(type));
        long expected = type.StorageSize(source.Length);
        if (expected < 0)
            throw new ArgumentException($"{type} quantizes blocks of {Block} values; {source.Length} values is not a multiple.", nameof(source));
        if (destination.Length != expected)
            throw new ArgumentException($"{source.Length} values of {type} take {expected} bytes, the destination has {destination.Length}.", nameof(destination));

        int blockBytes = type.BytesPerBlock();
        for (int b = 0; b < source.Length / Block; b++)
        {
            ReadOnlySpan<float> x = source.Slice(b * Block, Block);
            Span<byte> y = destination.Slice(b * blockBytes, blockBytes);
            switch (type)
            {
                case GgmlType.Q4_0: QuantizeQ4_0(x, y, fusedMultiplyAdd); break;
                case GgmlType.Q4_1: QuantizeQ4_1(x, y, fusedMultiplyAdd); break;
                case GgmlType.Q5_0: QuantizeQ5_0(x, y, fusedMultiplyAdd); break;
                case GgmlType.Q5_1: QuantizeQ5_1(x, y, fusedMultiplyAdd); break;
                case GgmlType.Q8_0: QuantizeQ8_0(x, y); break;
                default: throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown ggml block type.");
            }
        }
    }

    /// <summary>block_q4_0 { fp16 d; u8 qs[16]; }: d = max/−8 (max = first value of largest magnitude), q = min(15, ⌊x/d + 8.5⌋).</summary>
    private static void QuantizeQ4_0(ReadOnlySpan<float> x, Span<byte> y, bool fma)
    {
        float d = SignedMaximum(x) / -8f;
        float id = Inverse(d);
        WriteHalf(y, 0, d);
        Span<byte> qs = y.Slice(2, HalfBlock);
        for (int j = 0; j < HalfBlock; j++)
        {
            int q0 = Math.Min(15, Truncate(ScaledPlus(x[j], id, 8.5f, fma)));
            int q1 = Math.Min(15, Truncate(ScaledPlus(x[j + HalfBlock], id, 8.5f, fma)));
            qs[j] = (byte)(q0 | q1 << 4);
        }
    }

    /// <summary>block_q4_1 { fp16 d; fp16 m; u8 qs[16]; }: m = min, d = (max − min)/15, q = min(15, ⌊(x − m)/d + 0.5⌋).</summary>
    private static void QuantizeQ4_1(ReadOnlySpan<float> x, Span<byte> y, bool fma)
    {
        (float min, float max) = MinMax(x);
        float d = (max - min) / 15f;
        float id = Inverse(d);
        WriteHalf(y, 0, d);
        WriteHalf(y, 2, min);
        Span<byte> qs = y.Slice(4, HalfBlock);
        for (int j = 0; j < HalfBlock; j++)
        {
            int q0 = Math.Min(15, Truncate(ScaledPlus(x[j] - min, id, 0.5f, fma)));
            int q1 = Math.Min(15, Truncate(ScaledPlus(x[j + HalfBlock] - min, id, 0.5f, fma)));
            qs[j] = (byte)(q0 | q1 << 4);
        }
    }

    /// <summary>block_q5_0 { fp16 d; u8 qh[4]; u8 qs[16]; }: d = max/−16, q = min(31, ⌊x/d + 16.5⌋).</summary>
    private static void QuantizeQ5_0(ReadOnlySpan<float> x, Span<byte> y, bool fma)
    {
        float d = SignedMaximum(x) / -16f;
        float id = Inverse(d);
        WriteHalf(y, 0, d);
        Span<int> q = stackalloc int[Block];
        for (int j = 0; j < Block; j++)
            q[j] = Math.Min(31, Truncate(ScaledPlus(x[j], id, 16.5f, fma)));
        WriteFiveBitCodes(q, y.Slice(2, 4), y.Slice(6, HalfBlock));
    }

    /// <summary>
    /// block_q5_1 { fp16 d; fp16 m; u8 qh[4]; u8 qs[16]; }: m = min, d = (max − min)/31, q = ⌊(x − m)/d + 0.5⌋ with no
    /// clamp (ggml has none; only the low five bits are stored).
    /// </summary>
    private static void QuantizeQ5_1(ReadOnlySpan<float> x, Span<byte> y, bool fma)
    {
        (float min, float max) = MinMax(x);
        float d = (max - min) / 31f;
        float id = Inverse(d);
        WriteHalf(y, 0, d);
        WriteHalf(y, 2, min);
        Span<int> q = stackalloc int[Block];
        for (int j = 0; j < Block; j++)
            q[j] = Truncate(ScaledPlus(x[j] - min, id, 0.5f, fma));
        WriteFiveBitCodes(q, y.Slice(4, 4), y.Slice(8, HalfBlock));
    }

    /// <summary>block_q8_0 { fp16 d; i8 qs[32]; }: d = max|x|/127, q = round(x/d), halves away from zero.</summary>
    private static void QuantizeQ8_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        float amax = 0f;
        foreach (float v in x)
            amax = Math.Max(amax, Math.Abs(v));
        float d = amax / 127f;
        float id = Inverse(d);
        WriteHalf(y, 0, d);
        Span<byte> qs = y.Slice(2, Block);
        for (int j = 0; j < Block; j++)
            qs[j] = (byte)(sbyte)MathF.Round(Scaled(x[j], id), MidpointRounding.AwayFromZero);
    }

    /// <summary>The first value of largest magnitude, sign kept (0 for an all-zero block).</summary>
    private static float SignedMaximum(ReadOnlySpan<float> x)
    {
        float amax = 0f, max = 0f;
        foreach (float v in x)
        {
            if (amax < Math.Abs(v))
            {
                amax = Math.Abs(v);
                max = v;
            }
        }
        return max;
    }

    private static (float Min, float Max) MinMax(ReadOnlySpan<float> x)
    {
        float min = float.MaxValue, max = -float.MaxValue;
        foreach (float v in x)
        {
            if (v < min)
                min = v;
            if (v > max)
                max = v;
        }
        return (min, max);
    }

    private static float Inverse(float d) => d != 0f ? 1f / d : 0f;

    /// <summary>The float32 product, rounded on its own.</summary>
    private static float Scaled(float value, float id)
    {
        float product = value * id;
        return product;
    }

    /// <summary><c>value·id + offset</c>: the product rounded to float32 and then the sum (ggml's reference), or one
    /// fused rounding when <paramref name="fma"/> is set.</summary>
    private static float ScaledPlus(float value, float id, float offset, bool fma) =>
        fma ? MathF.FusedMultiplyAdd(value, id, offset) : Scaled(value, id) + offset;

    /// <summary>C's float-to-integer conversion: toward zero (operands here lie well inside the int range).</summary>
    private static int Truncate(float value) => (int)value;

    /// <summary>Low four bits of codes j and j + 16 into <c>qs[j]</c>, the fifth bit of code j into bit j of <c>qh</c>.</summary>
    private static void WriteFiveBitCodes(ReadOnlySpan<int> q, Span<byte> qh, Span<byte> qs)
    {
        uint high = 0;
        for (int j = 0; j < HalfBlock; j++)
        {
            qs[j] = (byte)((q[j] & 0x0F) | (q[j + HalfBlock] & 0x0F) << 4);
            high |= (uint)(q[j] & 0x10) >> 4 << j;
            high |= (uint)(q[j + HalfBlock] & 0x10) >> 4 << (j + HalfBlock);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(qh, high);
    }

    /// <summary>Stores <paramref name="value"/> as fp16, rounded to nearest even (.NET's conversion, as F16C's).</summary>
    private static void WriteHalf(Span<byte> bytes, int offset, float value) =>
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.Slice(offset, 2), BitConverter.HalfToUInt16Bits((Half)value));
}
