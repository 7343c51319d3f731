using System.Buffers.Binary;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

public static partial class PackedReference
{
    /// <summary>W <c>[Rows, Columns]</c> from k-quant blocks, as ggml's <c>dequantize_row_*</c> computes it.</summary>
    public static float[] Dequantize(PackedKQuantBlocks w)
    {
        var weights = new float[(long)w.Rows * w.Columns];
        DecodeBlocks(w.Type, w.Blocks, weights);
        return weights;
    }

    /// <summary>Row <paramref name="row"/> of W, as <see cref="Dequantize(PackedKQuantBlocks)"/> computes it.</summary>
    public static void DecodeRow(PackedKQuantBlocks w, int row, Span<float> destination)
    {
        CheckRow(row, w.Rows, w.Columns, destination);
        DecodeBlocks(w.Type, w.Blocks.AsSpan(checked(row * w.RowBytes), w.RowBytes), destination);
    }

    /// <summary>
    /// Consecutive blocks of <paramref name="type"/> (<paramref name="blocks"/>: exactly their bytes) into
    /// <paramref name="destination"/>, block after block (<see cref="DecodeBlock(KQuantType, ReadOnlySpan{byte}, Span{float})"/>).
    /// </summary>
    /// <exception cref="ArgumentException">The sizes are not a whole number of blocks of each other.</exception>
    public static void DecodeBlocks(KQuantType type, ReadOnlySpan<byte> blocks, Span<float> destination)
    {
        int blockBytes = type.BytesPerBlock(), values = type.ValuesPerBlock();
        long count = blocks.Length / blockBytes;
        if (blocks.Length % blockBytes != 0 || destination.Length != count * values)
            throw new ArgumentException($"{blocks.Length} bytes of {type} are not the blocks of {destination.Length} values.", nameof(blocks));
        for (int b = 0; b < count; b++)
            DecodeBlock(type, blocks.Slice(b * blockBytes, blockBytes), destination.Slice(b * values, values));
    }

    /// <summary>
    /// The values of one k-quant or IQ4 block (<paramref name="block"/>: exactly its bytes), bit-exact with ggml's
    /// <c>dequantize_row_q2_K</c>, <c>_q3_K</c>, <c>_q4_K</c>, <c>_iq4_xs</c>, <c>_iq4_nl</c>, <c>_iq3_s</c>: the same float32
    /// products and differences in the same order, never fused. The one reference dequantization of these formats in
    /// the library.
    /// </summary>
    /// <exception cref="ArgumentException">The block or the destination has the wrong size.</exception>
    public static void DecodeBlock(KQuantType type, ReadOnlySpan<byte> block, Span<float> destination)
    {
        if (block.Length != type.BytesPerBlock())
            throw new ArgumentException($"A {type} block is {type.BytesPerBlock()} bytes, got {block.Length}.", nameof(block));
        if (destination.Length != type.ValuesPerBlock())
            throw new ArgumentException($"A {type} block holds {type.ValuesPerBlock()} values; the destination holds {destination.Length}.", nameof(destination));
        switch (type)
        {
            case KQuantType.Q2_K: DecodeQ2K(block, destination); break;
            case KQuantType.Q3_K: DecodeQ3K(block, destination); break;
            case KQuantType.Q4_K: DecodeQ4K(block, destination); break;
            case KQuantType.IQ4_XS: DecodeIq4Xs(block, destination); break;
            case KQuantType.IQ4_NL: DecodeIq4Nl(block, destination); break;
            case KQuantType.IQ3_S: DecodeIq3S(block, destination); break;
            default: throw new ArgumentOutOfRangeException(nameof(type), type, "Not a k-quant type.");
        }
    }

    /// <summary>
    /// The 6-bit scale and minimum of sub-block <paramref name="j"/> (0–7) of a Q4_K block's 12 scale bytes (ggml's
    /// <c>get_scale_min_k4</c>): sub-blocks 0–3 in the low six bits of bytes j and j + 4, sub-blocks 4–7 in the nibbles of
    /// byte j + 4 with their top two bits in the spare bits of bytes j − 4 and j.
    /// </summary>
    public static (int Scale, int Min) Q4KScaleMin(ReadOnlySpan<byte> scales, int j) => j < 4
        ? (scales[j] & 63, scales[j + 4] & 63)
        : ((scales[j + 4] & 0xF) | (scales[j - 4] >> 6) << 4, (scales[j + 4] >> 4) | (scales[j] >> 6) << 4);

    /// <summary>Signed 6-bit scale <paramref name="j"/> (0–15) of a Q3_K block's 12 scale bytes, already less 32.</summary>
    public static int Q3KScale(ReadOnlySpan<byte> scales, int j)
    {
        int low = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4;
        return (low | (scales[8 + j % 4] >> (2 * (j / 4)) & 3) << 4) - 32;
    }

    /// <summary>{ u8 scales[16]; u8 qs[64]; fp16 d, dmin }: value 128h + 32j + l is bits 2j of qs[32h + l], its sub-block 16 values.</summary>
    private static void DecodeQ2K(ReadOnlySpan<byte> block, Span<float> y)
    {
        ReadOnlySpan<byte> scales = block[..16], qs = block.Slice(16, 64);
        float d = Half(block, 80), min = Half(block, 82);
        for (int sub = 0; sub < 16; sub++)
        {
            // Sub-block s covers values 16s…16s+15: half h = s / 8, shift 2·((s % 8) / 2), bytes 32h + 16·(s % 2) + l.
            int h = sub / 8, shift = 2 * (sub % 8 / 2), offset = 32 * h + 16 * (sub % 2);
            float dl = d * (scales[sub] & 0xF), ml = min * (scales[sub] >> 4);
            for (int l = 0; l < 16; l++)
            {
                float product = dl * (qs[offset + l] >> shift & 3);
                y[16 * sub + l] = product - ml;
            }
        }
    }

    /// <summary>
    /// { u8 hmask[32]; u8 qs[64]; u8 scales[12]; fp16 d }: value v = 128h + 32j + l has low bits 2j of qs[32h + l] and its
    /// third bit in bit 4h + j of hmask[l]; a clear third bit means code − 4.
    /// </summary>
    private static void DecodeQ3K(ReadOnlySpan<byte> block, Span<float> y)
    {
        ReadOnlySpan<byte> hmask = block[..32], qs = block.Slice(32, 64), scales = block.Slice(96, 12);
        float d = Half(block, 108);
        for (int sub = 0; sub < 16; sub++)
        {
            int h = sub / 8, j = sub % 8 / 2, offset = 16 * (sub % 2);
            float dl = d * Q3KScale(scales, sub);
            for (int l = 0; l < 16; l++)
            {
                int low = qs[32 * h + offset + l] >> (2 * j) & 3;
                int high = (hmask[offset + l] >> (4 * h + j) & 1) != 0 ? 0 : 4;
                y[16 * sub + l] = dl * (low - high);
            }
        }
    }

    /// <summary>{ fp16 d, dmin; u8 scales[12]; u8 qs[128] }: values 64p + l and 64p + 32 + l are the nibbles of qs[32p + l].</summary>
    private static void DecodeQ4K(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = Half(block, 0), min = Half(block, 2);
        ReadOnlySpan<byte> scales = block.Slice(4, 12), qs = block.Slice(16, 128);
        for (int pair = 0; pair < 4; pair++)
        {
            (int sc1, int m1) = Q4KScaleMin(scales, 2 * pair);
            (int sc2, int m2) = Q4KScaleMin(scales, 2 * pair + 1);
            float d1 = d * sc1, min1 = min * m1, d2 = d * sc2, min2 = min * m2;
            for (int l = 0; l < 32; l++)
            {
                byte q = qs[32 * pair + l];
                float low = d1 * (q & 0xF), high = d2 * (q >> 4);
                y[64 * pair + l] = low - min1;
                y[64 * pair + 32 + l] = high - min2;
            }
        }
    }

    /// <summary>{ fp16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128] }: sub-block b's 6-bit scale is nibble b of scales_l with bits 2b of scales_h above it.</summary>
    private static void DecodeIq4Xs(ReadOnlySpan<byte> block, Span<float> y)
    {
        ReadOnlySpan<sbyte> levels = KQuantTypes.NonLinearLevels;
        float d = Half(block, 0);
        int scalesHigh = BinaryPrimitives.ReadUInt16LittleEndian(block.Slice(2, 2));
        ReadOnlySpan<byte> scalesLow = block.Slice(4, 4), qs = block.Slice(8, 128);
        for (int b = 0; b < 8; b++)
        {
            int ls = (scalesLow[b / 2] >> (4 * (b % 2)) & 0xF) | (scalesHigh >> (2 * b) & 3) << 4;
            float dl = d * (ls - 32);
            for (int j = 0; j < 16; j++)
            {
                byte q = qs[16 * b + j];
                y[32 * b + j] = dl * levels[q & 0xF];
                y[32 * b + 16 + j] = dl * levels[q >> 4];
            }
        }
    }

    /// <summary>{ fp16 d; u8 qs[16] }: value j is the low nibble of qs[j], value j + 16 the high nibble.</summary>
    private static void DecodeIq4Nl(ReadOnlySpan<byte> block, Span<float> y)
    {
        ReadOnlySpan<sbyte> levels = KQuantTypes.NonLinearLevels;
        float d = Half(block, 0);
        for (int j = 0; j < 16; j++)
        {
            byte q = block[2 + j];
            y[j] = d * levels[q & 0xF];
            y[16 + j] = d * levels[q >> 4];
        }
    }

    /// <summary>
    /// { fp16 d; u8 qs[64]; u8 qh[8]; u8 signs[32]; u8 scales[4] }: values 4g…4g + 3 are grid point qs[g] | (bit g % 8 of
    /// qh[g / 8]) &lt;&lt; 8, value v negative when bit v % 8 of signs[v / 8] is set, and the 32 values of group i scaled by
    /// d·(1 + 2s), s nibble i % 2 of scales[i / 2].
    /// </summary>
    private static void DecodeIq3S(ReadOnlySpan<byte> block, Span<float> y)
    {
        ReadOnlySpan<uint> grid = KQuantTypes.Iq3sGrid;
        float d = Half(block, 0);
        ReadOnlySpan<byte> qs = block.Slice(2, 64), qh = block.Slice(66, 8), signs = block.Slice(74, 32), scales = block.Slice(106, 4);
        for (int group = 0; group < 8; group++)
        {
            float db = d * (1 + 2 * (scales[group / 2] >> (4 * (group % 2)) & 0xF));
            for (int g = 8 * group; g < 8 * group + 8; g++)
            {
                uint point = grid[qs[g] | (qh[g / 8] >> (g % 8) & 1) << 8];
                for (int k = 0; k < 4; k++)
                {
                    int v = 4 * g + k;
                    y[v] = db * (byte)(point >> (8 * k)) * ((signs[v / 8] >> (v % 8) & 1) != 0 ? -1f : 1f);
                }
            }
        }
    }

    /// <summary>y_n = W·x_n for k-quant blocks.</summary>
    public static void MatVec(PackedKQuantBlocks w, ReadOnlySpan<float> x, Span<float> y, int vectors) =>
        MatVec(Dequantize(w), w.Rows, w.Columns, x, y, vectors);
}
