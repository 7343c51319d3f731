using System.Buffers.Binary;
using RwkvQuant.Kernels.MatVec;
using RwkvQuant.Kernels.Packed;
using static RwkvQuant.Scalar.KQuants.KQuantScaleSearch;

namespace RwkvQuant.Scalar.KQuants;

/// <summary>
/// Reference quantization of one row into llama.cpp's k-quant and IQ4 blocks, byte for byte what ggml's
/// <c>quantize_q2_K</c>, <c>_q3_K</c>, <c>_q4_K</c>, <c>_iq4_xs</c>, <c>_iq4_nl</c>, <c>_iq3_s</c> and <c>_q5_0</c> write for that row —
/// the functions llama-quantize calls — built without FMA contraction. Without an importance matrix Q2_K, Q3_K and
/// Q4_K take ggml's <c>quantize_row_*_ref</c> searches (weights from the values themselves); with one (mean x_j² of the
/// layer's inputs, per column) they take the <c>_impl</c> searches, whose weight for value j is
/// importance_j·√(σ² + x_j²) (σ² the row's or super-block's mean square, doubled for Q3_K, Q4_K and IQ4).
/// </summary>
internal static partial class KQuantBlockQuantizer
{
    private const int Super = KQuantTypes.SuperBlockSize;

    /// <summary>
    /// Quantizes <paramref name="row"/> (a multiple of the block) into <paramref name="destination"/> (exactly its
    /// blocks' bytes); <paramref name="importance"/> is the per-column importance (the row's length), or empty for the
    /// formats' searches without one.
    /// </summary>
    /// <exception cref="ArgumentException">The lengths do not fit the format.</exception>
    public static void QuantizeRow(KQuantType type, ReadOnlySpan<float> row, ReadOnlySpan<float> importance, Span<byte> destination)
    {
        Check(type.ValuesPerBlock(), type.BytesPerBlock(), type.ToString(), row, importance, destination);
        int values = type.ValuesPerBlock(), bytes = type.BytesPerBlock();
        for (int b = 0; b < row.Length / values; b++)
        {
            ReadOnlySpan<float> x = row.Slice(b * values, values);
            ReadOnlySpan<float> qw = importance.IsEmpty ? default : importance.Slice(b * values, values);
            Span<byte> y = destination.Slice(b * bytes, bytes);
            switch (type)
            {
                case KQuantType.Q2_K when qw.IsEmpty: Q2K(x, y); break;
                case KQuantType.Q2_K: Q2KWeighted(x, qw, y); break;
                case KQuantType.Q3_K: Q3K(x, qw, y); break;
                case KQuantType.Q4_K when qw.IsEmpty: Q4K(x, y); break;
                case KQuantType.Q4_K: Q4KWeighted(x, qw, y); break;
                case KQuantType.IQ4_XS or KQuantType.IQ4_NL: NonLinear(x, qw, y); break;
                case KQuantType.IQ3_S: Iq3S(x, qw, y); break;
                default: throw new ArgumentOutOfRangeException(nameof(type), type, "Not a k-quant type.");
            }
        }
    }

    /// <summary>
    /// ggml's Q5_0 blocks of <paramref name="row"/> searched with an importance matrix (<c>quantize_row_q5_0_impl</c>: per
    /// block the weighted symmetric search over 32 levels, σ² the whole row's mean square): llama.cpp's fallback for Q4_K
    /// on rows that are not a multiple of 256.
    /// </summary>
    public static void QuantizeQ5_0Row(ReadOnlySpan<float> row, ReadOnlySpan<float> importance, Span<byte> destination)
    {
        const int block = 32, blockBytes = 22;
        Check(block, blockBytes, "Q5_0", row, importance, destination);
        if (importance.IsEmpty)
            throw new ArgumentException("The weighted Q5_0 search needs an importance per column.", nameof(importance));
        float sigma2 = SumOfSquares(row) / row.Length;
        Span<float> weight = stackalloc float[block];
        Span<sbyte> codes = stackalloc sbyte[block];
        for (int b = 0; b < row.Length / block; b++)
        {
            ReadOnlySpan<float> x = row.Slice(b * block, block), qw = importance.Slice(b * block, block);
            for (int j = 0; j < block; j++)
                weight[j] = qw[j] * MathF.Sqrt(sigma2 + x[j] * x[j]);
            float d = Symmetric(16, x, codes, weight);
            Span<byte> y = destination.Slice(b * blockBytes, blockBytes);
            WriteHalf(y, 0, d);
            uint high = 0;
            for (int j = 0; j < 16; j++)
            {
                int q0 = (byte)codes[j], q1 = (byte)codes[j + 16];
                y[6 + j] = (byte)((q0 & 0x0F) | (q1 & 0x0F) << 4);
                high |= (uint)(q0 & 0x10) >> 4 << j;
                high |= (uint)(q1 & 0x10) >> 4 << (j + 16);
            }
            BinaryPrimitives.WriteUInt32LittleEndian(y.Slice(2, 4), high);
        }
    }

    private static void Check(int block, int blockBytes, string name, ReadOnlySpan<float> row, ReadOnlySpan<float> importance, Span<byte> destination)
    {
        if (row.Length == 0 || row.Length % block != 0)
            throw new ArgumentException($"{name} quantizes rows of whole blocks of {block} values; got {row.Length}.", nameof(row));
        if (!importance.IsEmpty && importance.Length != row.Length)
            throw new ArgumentException($"The importance has {importance.Length} values for a row of {row.Length}.", nameof(importance));
        if (destination.Length != row.Length / block * blockBytes)
            throw new ArgumentException($"{row.Length} values of {name} take {row.Length / block * blockBytes} bytes, the destination has {destination.Length}.", nameof(destination));
    }

    /// <summary>Q2_K without an importance matrix (<c>quantize_row_q2_K_ref</c>): weights |x|, absolute error, 4-bit scales and minimums over max/15.</summary>
    private static void Q2K(ReadOnlySpan<float> x, Span<byte> y)
    {
        Span<byte> codes = stackalloc byte[Super], scratch = stackalloc byte[16];
        Span<float> weights = stackalloc float[16], mins = stackalloc float[16], scales = stackalloc float[16];
        const float q4scale = 15f;
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 16; j++)
        {
            for (int l = 0; l < 16; l++)
                weights[l] = MathF.Abs(x[16 * j + l]);
            scales[j] = Asymmetric(3, x.Slice(16 * j, 16), weights, codes.Slice(16 * j, 16), out mins[j], scratch, -0.5f, 0.1f, 15, absolute: true, flatIsLessOrEqual: false);
            if (scales[j] > maxScale)
                maxScale = scales[j];
            if (mins[j] > maxMin)
                maxMin = mins[j];
        }
        Span<byte> packedScales = y[..16];
        if (maxScale > 0)
        {
            float iscale = q4scale / maxScale;
            for (int j = 0; j < 16; j++)
                packedScales[j] = (byte)NearestInt(iscale * scales[j]);
            WriteHalf(y, 80, maxScale / q4scale);
        }
        else
        {
            packedScales.Clear();
            WriteHalf(y, 80, 0f);
        }
        if (maxMin > 0)
        {
            float iscale = q4scale / maxMin;
            for (int j = 0; j < 16; j++)
                packedScales[j] |= (byte)(NearestInt(iscale * mins[j]) << 4);
            WriteHalf(y, 82, maxMin / q4scale);
        }
        else
        {
            WriteHalf(y, 82, 0f);
        }
        RequantizeQ2K(x, y, codes);
        PackTwoBit(codes, y.Slice(16, 64));
    }

    /// <summary>Q2_K with an importance matrix (<c>quantize_row_q2_K_impl</c>): weighted squared error, scales and minimums fitted by the weighted positive search.</summary>
    private static void Q2KWeighted(ReadOnlySpan<float> x, ReadOnlySpan<float> qw, Span<byte> y)
    {
        Span<byte> codes = stackalloc byte[Super], scratch = stackalloc byte[16], ls = stackalloc byte[16], lm = stackalloc byte[16];
        Span<float> weight = stackalloc float[16], mins = stackalloc float[16], scales = stackalloc float[16], sw = stackalloc float[16];
        float sigma2 = SumOfSquares(x) / Super;
        for (int j = 0; j < 16; j++)
        {
            sw[j] = ImportanceWeights(x.Slice(16 * j, 16), qw.Slice(16 * j, 16), sigma2, weight);
            scales[j] = Asymmetric(3, x.Slice(16 * j, 16), weight, codes.Slice(16 * j, 16), out mins[j], scratch, -0.9f, 0.05f, 36, absolute: false, flatIsLessOrEqual: true);
        }
        float dm = Positive(15, scales, ls, sw);
        float mm = Positive(15, mins, lm, sw);
        WriteHalf(y, 80, dm);
        WriteHalf(y, 82, mm);
        for (int j = 0; j < 16; j++)
            y[j] = (byte)(ls[j] | lm[j] << 4);
        RequantizeQ2K(x, y, codes);
        PackTwoBit(codes, y.Slice(16, 64));
    }

    /// <summary>Codes again from the stored d, dmin and 4-bit scales: l = round((x + dmin·m)/(d·sc)) in [0, 3]; sub-blocks whose d·sc is 0 keep the search's codes.</summary>
    private static void RequantizeQ2K(ReadOnlySpan<float> x, ReadOnlySpan<byte> y, Span<byte> codes)
    {
        float d = ReadHalf(y, 80), dmin = ReadHalf(y, 82);
        for (int j = 0; j < 16; j++)
        {
            float dj = d * (y[j] & 0xF);
            if (dj == 0)
                continue;
            float mj = dmin * (y[j] >> 4);
            for (int i = 0; i < 16; i++)
                codes[16 * j + i] = (byte)Math.Clamp(NearestInt((x[16 * j + i] + mj) / dj), 0, 3);
        }
    }

    /// <summary>
    /// Q3_K: per 16 values a symmetric 3-bit search (<c>make_q3_quants</c> without an importance matrix, the weighted
    /// <c>make_qx_quants</c> with one), then the sixteen scales as 6-bit signed multiples of one FP16 d.
    /// </summary>
    private static void Q3K(ReadOnlySpan<float> x, ReadOnlySpan<float> qw, Span<byte> y)
    {
        Span<sbyte> codes = stackalloc sbyte[Super];
        Span<float> scales = stackalloc float[16];
        Span<byte> packed = y.Slice(96, 12);
        packed.Clear();
        if (qw.IsEmpty)
        {
            float maxScale = 0, amax = 0;
            for (int j = 0; j < 16; j++)
            {
                scales[j] = Q3(4, x.Slice(16 * j, 16), codes.Slice(16 * j, 16));
                float scale = MathF.Abs(scales[j]);
                if (scale > amax)
                {
                    amax = scale;
                    maxScale = scales[j];
                }
            }
            if (maxScale != 0)
            {
                float iscale = -32f / maxScale;
                for (int j = 0; j < 16; j++)
                {
                    sbyte l = (sbyte)NearestInt(iscale * scales[j]);
                    PackQ3KScale(packed, j, Math.Clamp((int)l, -32, 31) + 32);
                }
                WriteHalf(y, 108, 1 / iscale);
            }
            else
            {
                WriteHalf(y, 108, 0f);
            }
        }
        else
        {
            Span<float> weight = stackalloc float[16], sw = stackalloc float[16];
            Span<sbyte> ls = stackalloc sbyte[16];
            float sigma2 = 2 * SumOfSquares(x) / Super;
            for (int j = 0; j < 16; j++)
            {
                sw[j] = ImportanceWeights(x.Slice(16 * j, 16), qw.Slice(16 * j, 16), sigma2, weight);
                scales[j] = Symmetric(4, x.Slice(16 * j, 16), codes.Slice(16 * j, 16), weight);
            }
            float dBlock = Symmetric(32, scales, ls, sw);
            for (int j = 0; j < 16; j++)
                PackQ3KScale(packed, j, ls[j]);
            WriteHalf(y, 108, dBlock);
        }

        float d = ReadHalf(y, 108);
        for (int j = 0; j < 16; j++)
        {
            float dj = d * PackedReference.Q3KScale(packed, j);
            if (dj == 0)
                continue;
            for (int i = 0; i < 16; i++)
                codes[16 * j + i] = (sbyte)(Math.Clamp(NearestInt(x[16 * j + i] / dj), -4, 3) + 4);
        }

        // The third bit of value v goes to bit v / 32 of hmask[v % 32]; the low two bits pack as Q2_K's.
        Span<byte> hmask = y[..32];
        hmask.Clear();
        Span<byte> low = stackalloc byte[Super];
        for (int v = 0; v < Super; v++)
        {
            int code = codes[v];
            if (code > 3)
            {
                hmask[v % 32] |= (byte)(1 << (v / 32));
                code -= 4;
            }
            low[v] = (byte)code;
        }
        PackTwoBit(low, y.Slice(32, 64));
    }

    /// <summary>Scale j's 6 bits: low nibble into byte j (j &lt; 8) or the high nibble of byte j − 8, top two bits into bits 2·(j / 4) of byte 8 + j % 4.</summary>
    private static void PackQ3KScale(Span<byte> packed, int j, int l)
    {
        if (j < 8)
            packed[j] = (byte)(l & 0xF);
        else
            packed[j - 8] |= (byte)((l & 0xF) << 4);
        packed[8 + j % 4] |= (byte)((l >> 4) << (2 * (j / 4)));
    }

    /// <summary>Q4_K without an importance matrix (<c>quantize_row_q4_K_ref</c>): per 32 values the asymmetric search weighted by rms + |x|, 6-bit scales and minimums over max/63.</summary>
    private static void Q4K(ReadOnlySpan<float> x, Span<byte> y)
    {
        Span<byte> codes = stackalloc byte[Super], scratch = stackalloc byte[32];
        Span<float> weights = stackalloc float[32], mins = stackalloc float[8], scales = stackalloc float[8];
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; j++)
        {
            float sumX2 = 0;
            for (int l = 0; l < 32; l++)
                sumX2 += x[32 * j + l] * x[32 * j + l];
            float avX = MathF.Sqrt(sumX2 / 32);
            for (int l = 0; l < 32; l++)
                weights[l] = avX + MathF.Abs(x[32 * j + l]);
            scales[j] = Asymmetric(15, x.Slice(32 * j, 32), weights, codes.Slice(32 * j, 32), out mins[j], scratch, -1f, 0.1f, 20, absolute: false, flatIsLessOrEqual: false);
            if (scales[j] > maxScale)
                maxScale = scales[j];
            if (mins[j] > maxMin)
                maxMin = mins[j];
        }
        float invScale = maxScale > 0 ? 63f / maxScale : 0f;
        float invMin = maxMin > 0 ? 63f / maxMin : 0f;
        Span<byte> ls = stackalloc byte[8], lm = stackalloc byte[8];
        for (int j = 0; j < 8; j++)
        {
            ls[j] = Math.Min((byte)63, (byte)NearestInt(invScale * scales[j]));
            lm[j] = Math.Min((byte)63, (byte)NearestInt(invMin * mins[j]));
        }
        PackQ4KScales(y.Slice(4, 12), ls, lm);
        WriteHalf(y, 0, maxScale / 63f);
        WriteHalf(y, 2, maxMin / 63f);
        RequantizeQ4K(x, y, codes);
    }

    /// <summary>Q4_K with an importance matrix (<c>quantize_row_q4_K_impl</c>): weighted squared error, scales and minimums fitted by the weighted positive search.</summary>
    private static void Q4KWeighted(ReadOnlySpan<float> x, ReadOnlySpan<float> qw, Span<byte> y)
    {
        Span<byte> codes = stackalloc byte[Super], scratch = stackalloc byte[32], ls = stackalloc byte[8], lm = stackalloc byte[8];
        Span<float> weights = stackalloc float[32], mins = stackalloc float[8], scales = stackalloc float[8], sw = stackalloc float[8];
        float sigma2 = 2 * SumOfSquares(x) / Super;
        for (int j = 0; j < 8; j++)
        {
            sw[j] = ImportanceWeights(x.Slice(32 * j, 32), qw.Slice(32 * j, 32), sigma2, weights);
            scales[j] = Asymmetric(15, x.Slice(32 * j, 32), weights, codes.Slice(32 * j, 32), out mins[j], scratch, -0.9f, 0.05f, 36, absolute: false, flatIsLessOrEqual: true);
        }
        float dBlock = Positive(63, scales, ls, sw);
        float mBlock = Positive(63, mins, lm, sw);
        PackQ4KScales(y.Slice(4, 12), ls, lm);
        WriteHalf(y, 0, dBlock);
        WriteHalf(y, 2, mBlock);
        RequantizeQ4K(x, y, codes);
    }

    /// <summary>Eight 6-bit scales and minimums into 12 bytes (the layout <see cref="PackedReference.Q4KScaleMin"/> reads).</summary>
    private static void PackQ4KScales(Span<byte> packed, ReadOnlySpan<byte> ls, ReadOnlySpan<byte> lm)
    {
        for (int j = 0; j < 8; j++)
        {
            if (j < 4)
            {
                packed[j] = ls[j];
                packed[j + 4] = lm[j];
            }
            else
            {
                packed[j + 4] = (byte)((ls[j] & 0xF) | (lm[j] & 0xF) << 4);
                packed[j - 4] |= (byte)((ls[j] >> 4) << 6);
                packed[j] |= (byte)((lm[j] >> 4) << 6);
            }
        }
    }

    /// <summary>Codes again from the stored scales (l = round((x + dmin·m)/(d·sc)) in [0, 15]), then the nibbles: values 64p + l and 64p + 32 + l share qs[32p + l].</summary>
    private static void RequantizeQ4K(ReadOnlySpan<float> x, Span<byte> y, Span<byte> codes)
    {
        float d = ReadHalf(y, 0), dmin = ReadHalf(y, 2);
        ReadOnlySpan<byte> packed = y.Slice(4, 12);
        for (int j = 0; j < 8; j++)
        {
            (int sc, int m) = PackedReference.Q4KScaleMin(packed, j);
            float dj = d * sc;
            if (dj == 0)
                continue;
            float mj = dmin * m;
            for (int i = 0; i < 32; i++)
                codes[32 * j + i] = (byte)Math.Clamp(NearestInt((x[32 * j + i] + mj) / dj), 0, 15);
        }
        Span<byte> qs = y.Slice(16, 128);
        for (int p = 0; p < 4; p++)
        {
            for (int l = 0; l < 32; l++)
                qs[32 * p + l] = (byte)(codes[64 * p + l] | codes[64 * p + 32 + l] << 4);
        }
    }

    /// <summary>
    /// IQ4_XS (256 values, eight sub-blocks with 6-bit signed scales over one FP16 d) and IQ4_NL (32 values, one FP16 d):
    /// per 32 values the best scale for the non-linear levels among 15 grids (<c>quantize_row_iq4_nl_impl</c>, ntry 7),
    /// weighted by importance·√(σ² + x²) or, without an importance matrix, x².
    /// </summary>
    private static void NonLinear(ReadOnlySpan<float> x, ReadOnlySpan<float> qw, Span<byte> y)
    {
        const int block = 32, ntry = 7;
        ReadOnlySpan<sbyte> levels = KQuantTypes.NonLinearLevels;
        int superBlock = x.Length, blocks = superBlock / block;
        Span<byte> codes = stackalloc byte[Super];
        Span<float> weight = stackalloc float[block], scales = stackalloc float[8];
        float sigma2 = 0;
        for (int j = 0; j < superBlock; j++)
            sigma2 += x[j] * x[j];
        sigma2 *= 2f / superBlock;

        float maxScale = 0, amaxScale = 0;
        for (int ib = 0; ib < blocks; ib++)
        {
            ReadOnlySpan<float> xb = x.Slice(ib * block, block);
            Span<byte> lb = codes.Slice(ib * block, block);
            for (int j = 0; j < block; j++)
                weight[j] = qw.IsEmpty ? xb[j] * xb[j] : qw[ib * block + j] * MathF.Sqrt(sigma2 + xb[j] * xb[j]);
            float max = SignedMaximum(xb, out float amax);
            if (amax < GroupMaxEps)
            {
                scales[ib] = 0;
                continue;
            }
            float d = -max / levels[0];
            float id = 1 / d;
            float sumqx = 0, sumq2 = 0;
            for (int j = 0; j < block; j++)
            {
                int l = NearestLevel(levels, id * xb[j]);
                lb[j] = (byte)l;
                float q = levels[l], w = weight[j];
                sumqx += w * q * xb[j];
                sumq2 += w * q * q;
            }
            d = sumq2 > 0 ? sumqx / sumq2 : 0f;
            float best = d * sumqx;
            for (int itry = -ntry; itry <= ntry; itry++)
            {
                id = (itry + levels[0]) / max;
                sumqx = sumq2 = 0;
                for (int j = 0; j < block; j++)
                {
                    float q = levels[NearestLevel(levels, id * xb[j])], w = weight[j];
                    sumqx += w * q * xb[j];
                    sumq2 += w * q * q;
                }
                if (sumq2 > 0 && sumqx * sumqx > best * sumq2)
                {
                    d = sumqx / sumq2;
                    best = d * sumqx;
                }
            }
            scales[ib] = d;
            if (MathF.Abs(d) > amaxScale)
            {
                amaxScale = MathF.Abs(d);
                maxScale = d;
            }
        }

        Span<byte> qs;
        if (blocks > 1)
        {
            // IQ4_XS: { fp16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128] }. The codes are found again from the 6-bit
            // scales times the unrounded d (ggml's order: d is stored as FP16 but the codes use the float32 value).
            float d = -maxScale / 32;
            WriteHalf(y, 0, d);
            float id = d != 0 ? 1 / d : 0f;
            Span<byte> scalesLow = y.Slice(4, 4);
            scalesLow.Clear();
            int scalesHigh = 0;
            for (int ib = 0; ib < blocks; ib++)
            {
                int l = Math.Clamp(NearestInt(id * scales[ib]), -32, 31);
                float dl = d * l;
                float idl = dl != 0 ? 1 / dl : 0f;
                for (int j = 0; j < block; j++)
                    codes[ib * block + j] = (byte)NearestLevel(levels, idl * x[ib * block + j]);
                l += 32;
                scalesLow[ib / 2] |= (byte)((l & 0xF) << (4 * (ib % 2)));
                scalesHigh |= (l >> 4) << (2 * ib);
            }
            BinaryPrimitives.WriteUInt16LittleEndian(y.Slice(2, 2), (ushort)scalesHigh);
            qs = y.Slice(8, superBlock / 2);
        }
        else
        {
            // IQ4_NL: { fp16 d; u8 qs[16] }, the codes again from the block's float32 scale.
            WriteHalf(y, 0, scales[0]);
            float id = scales[0] != 0 ? 1 / scales[0] : 0f;
            for (int j = 0; j < superBlock; j++)
                codes[j] = (byte)NearestLevel(levels, id * x[j]);
            qs = y.Slice(2, superBlock / 2);
        }
        for (int i = 0; i < superBlock / 32; i++)
        {
            for (int j = 0; j < 16; j++)
                qs[16 * i + j] = (byte)(codes[32 * i + j] | codes[32 * i + 16 + j] << 4);
        }
    }

    /// <summary>Σ x² in order, in float32 (as ggml sums it).</summary>
    private static float SumOfSquares(ReadOnlySpan<float> x)
    {
        float sum = 0;
        foreach (float v in x)
            sum += v * v;
        return sum;
    }

    /// <summary>
    /// The importance-matrix weights of a sub-block, w_l = importance_l·√(σ² + x_l²) (ggml's <c>_impl</c> searches), into
    /// <paramref name="weights"/>; returns their sum, in order.
    /// </summary>
    private static float ImportanceWeights(ReadOnlySpan<float> x, ReadOnlySpan<float> importance, float sigma2, Span<float> weights)
    {
        float sum = 0;
        for (int l = 0; l < x.Length; l++)
            weights[l] = importance[l] * MathF.Sqrt(sigma2 + x[l] * x[l]);
        for (int l = 0; l < x.Length; l++)
            sum += weights[l];
        return sum;
    }

    /// <summary>Four 2-bit codes per byte: value 128h + 32s + l into bits 2s of byte 32h + l.</summary>
    private static void PackTwoBit(ReadOnlySpan<byte> codes, Span<byte> qs)
    {
        for (int h = 0; h < 2; h++)
        {
            for (int l = 0; l < 32; l++)
            {
                int v = 128 * h + l;
                qs[32 * h + l] = (byte)(codes[v] | codes[v + 32] << 2 | codes[v + 64] << 4 | codes[v + 96] << 6);
            }
        }
    }

    /// <summary>Stores <paramref name="value"/> as FP16 rounded to nearest even (ggml's GGML_FP32_TO_FP16).</summary>
    private static void WriteHalf(Span<byte> bytes, int offset, float value) =>
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.Slice(offset, 2), BitConverter.HalfToUInt16Bits((Half)value));

    private static float ReadHalf(ReadOnlySpan<byte> bytes, int offset) =>
        (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(bytes.Slice(offset, 2)));
}
