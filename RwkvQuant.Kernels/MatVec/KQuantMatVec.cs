using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>
/// The fast CPU product of llama.cpp's k-quant and IQ4 blocks (<see cref="PackedKQuantBlocks"/>) and up to
/// <see cref="MaxVectors"/> vectors, reading only the blocks. Every format is, per 16 values, x = dl·q − ml with q a small
/// integer level (Q2_K 0…3, Q3_K −4…3, Q4_K 0…15, IQ4 the non-linear table's −127…113, IQ3_S a grid point's ±1…15),
/// dl the sub-block's scale and ml
/// its minimum (0 for the symmetric formats), so a block contributes Σ_s dl_s·Σ q·x − ml_s·X_s with X_s = Σ x over the 16
/// values, computed once per vector. A block's levels are unpacked 16 at a time with byte shifts and masks (the IQ4
/// table by one byte shuffle: <c>pshufb</c>, ARM64 <c>tbl</c>; IQ3_S's grid one 32-bit read per four values, its signs
/// by a table of byte masks and a conditional negation), widened to floats once, then multiplied with every
/// vector: 8-lane FMAs on the <see cref="SimdTier.Avx2"/> tier (also what AVX-512 machines run), 4-lane on the
/// <see cref="SimdTier.Vector128"/> tier (SSE, ARM64 AdvSimd); on the <see cref="SimdTier.Scalar"/> tier each block is
/// decoded by the reference and dotted with TensorPrimitives.
/// </summary>
public static unsafe class KQuantMatVec
{
    /// <summary>Vectors multiplied in one pass over the weights.</summary>
    public const int MaxVectors = 8;

    private const int Sub = 16;

    /// <summary>For each sign byte of IQ3_S, eight bytes of 0xFF where its bit is set (the values to negate), else 0.</summary>
    private static readonly ulong[] SignMasks = [.. Enumerable.Range(0, 256).Select(s =>
        Enumerable.Range(0, 8).Aggregate(0UL, (mask, bit) => (s >> bit & 1) != 0 ? mask | 0xFFUL << (8 * bit) : mask))];

    /// <summary>The widest tier of this kernel that the machine runs (AVX-512 machines run the AVX2 path).</summary>
    public static SimdTier Tier { get; } =
        SimdTiers.IsSupported(SimdTier.Avx2) ? SimdTier.Avx2 : SimdTiers.IsSupported(SimdTier.Vector128) ? SimdTier.Vector128 : SimdTier.Scalar;

    /// <summary>True when the kernel has a <paramref name="tier"/> path and the hardware runs it.</summary>
    public static bool Supports(SimdTier tier) => tier != SimdTier.Avx512 && SimdTiers.IsSupported(tier);

    /// <summary>Effectively computes y[n, r] = Σ_c W[r, c]·x[n, c] for x <c>[vectors, Columns]</c>, y <c>[vectors, Rows]</c>.</summary>
    public static void MatVec(PackedKQuantBlocks w, ReadOnlySpan<float> x, Span<float> y, int vectors) => MatVec(w, x, y, vectors, Tier);

    /// <summary>As above on <paramref name="tier"/> (tests force the lower tiers with it).</summary>
    /// <exception cref="PlatformNotSupportedException">The kernel has no <paramref name="tier"/> path or the machine does not run it.</exception>
    public static void MatVec(PackedKQuantBlocks w, ReadOnlySpan<float> x, Span<float> y, int vectors, SimdTier tier)
    {
        ArgumentNullException.ThrowIfNull(w);
        PackedReference.CheckShapes(w.Rows, w.Columns, x, y, vectors);
        if (!Supports(tier))
            throw new PlatformNotSupportedException($"The k-quant product has no {SimdTiers.Describe(tier)} path on this machine.");
        for (int first = 0; first < vectors; first += MaxVectors)
        {
            int count = Math.Min(MaxVectors, vectors - first);
            Pass(w, x.Slice(first * w.Columns, count * w.Columns), y.Slice(first * w.Rows, count * w.Rows), count, tier);
        }
    }

    private static void Pass(PackedKQuantBlocks w, ReadOnlySpan<float> x, Span<float> y, int vectors, SimdTier tier)
    {
        int subs = w.Columns / Sub;
        float[] xs = ArrayPool<float>.Shared.Rent(vectors * w.Columns);
        float[] sums = ArrayPool<float>.Shared.Rent(vectors * subs);
        try
        {
            x.CopyTo(xs);
            for (int n = 0; n < vectors; n++)
                for (int s = 0; s < subs; s++)
                    sums[n * subs + s] = TensorPrimitives.Sum(x.Slice(n * w.Columns + s * Sub, Sub));
            fixed (float* xp = xs)
            fixed (float* sp = sums)
            fixed (float* yp = y)
            fixed (byte* bp = w.Blocks)
            {
                var c = new Context(w, (nint)xp, (nint)sp, (nint)bp, (nint)yp, vectors);
                RowPartition.For(w.Rows, (long)w.Columns * vectors, (first, end) =>
                {
                    if (tier == SimdTier.Scalar)
                        RowsPortable(c, first, end);
                    else
                        RowsSimd(c, first, end, tier == SimdTier.Avx2);
                });
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(xs);
            ArrayPool<float>.Shared.Return(sums);
        }
    }

    private readonly record struct Context(PackedKQuantBlocks W, nint X, nint SubSums, nint Blocks, nint Y, int Vectors);

    private static void RowsSimd(Context c, int first, int end, bool avx2)
    {
        PackedKQuantBlocks w = c.W;
        int blockValues = w.BlockValues, blockBytes = w.BlockBytes, blocks = w.BlocksPerRow, subs = w.Columns / Sub, vectors = c.Vectors;
        int blockSubs = blockValues / Sub;
        sbyte* levels = stackalloc sbyte[KQuantTypes.SuperBlockSize];
        float* q = stackalloc float[KQuantTypes.SuperBlockSize];
        float* dl = stackalloc float[KQuantTypes.SuperBlockSize / Sub];
        float* ml = stackalloc float[KQuantTypes.SuperBlockSize / Sub];
        Vector256<float>* totals = stackalloc Vector256<float>[MaxVectors];
        Vector128<float>* totals128 = stackalloc Vector128<float>[MaxVectors];
        float* corrections = stackalloc float[MaxVectors];
        for (int row = first; row < end; row++)
        {
            for (int n = 0; n < vectors; n++)
            {
                totals[n] = Vector256<float>.Zero;
                totals128[n] = Vector128<float>.Zero;
                corrections[n] = 0;
            }
            byte* block = (byte*)c.Blocks + (long)row * blocks * blockBytes;
            for (int b = 0; b < blocks; b++, block += blockBytes)
            {
                bool asymmetric = DecodeLevels(w.Type, block, levels);
                DecodeScales(w.Type, block, dl, ml);
                Widen(levels, q, blockValues);
                float* xk = (float*)c.X + b * blockValues;
                float* sums = (float*)c.SubSums + b * blockSubs;
                for (int n = 0; n < vectors; n++, xk += w.Columns, sums += subs)
                {
                    if (avx2)
                    {
                        Vector256<float> total = totals[n];
                        for (int s = 0; s < blockSubs; s++)
                        {
                            Vector256<float> dot = Avx.LoadVector256(q + Sub * s) * Avx.LoadVector256(xk + Sub * s);
                            dot = Fma.MultiplyAdd(Avx.LoadVector256(q + Sub * s + 8), Avx.LoadVector256(xk + Sub * s + 8), dot);
                            total = Fma.MultiplyAdd(dot, Vector256.Create(dl[s]), total);
                        }
                        totals[n] = total;
                    }
                    else
                    {
                        Vector128<float> total = totals128[n];
                        for (int s = 0; s < blockSubs; s++)
                        {
                            float* qs = q + Sub * s, xv = xk + Sub * s;
                            Vector128<float> dot0 = Vector128.Load(qs) * Vector128.Load(xv), dot1 = Vector128.Load(qs + 4) * Vector128.Load(xv + 4);
                            dot0 = Vector128.MultiplyAddEstimate(Vector128.Load(qs + 8), Vector128.Load(xv + 8), dot0);
                            dot1 = Vector128.MultiplyAddEstimate(Vector128.Load(qs + 12), Vector128.Load(xv + 12), dot1);
                            total = Vector128.MultiplyAddEstimate(dot0 + dot1, Vector128.Create(dl[s]), total);
                        }
                        totals128[n] = total;
                    }
                    if (asymmetric)
                    {
                        float correction = 0;
                        for (int s = 0; s < blockSubs; s++)
                            correction += ml[s] * sums[s];
                        corrections[n] -= correction;
                    }
                }
            }
            for (int n = 0; n < vectors; n++)
                ((float*)c.Y)[n * w.Rows + row] = (avx2 ? Vector256.Sum(totals[n]) : Vector128.Sum(totals128[n])) + corrections[n];
        }
    }

    /// <summary>
    /// The block's levels q as signed bytes in value order (the q of x = dl·q − ml), 16 at a time: Q4_K's nibbles, Q2_K's
    /// and Q3_K's bit pairs (Q3_K's third bit from hmask: a clear bit means q − 4), IQ4's nibbles through the level table.
    /// Returns true for the formats with minimums (Q2_K, Q4_K).
    /// </summary>
    private static bool DecodeLevels(KQuantType type, byte* block, sbyte* levels)
    {
        Vector128<byte> low2 = Vector128.Create((byte)3), low4 = Vector128.Create((byte)0x0F);
        switch (type)
        {
            case KQuantType.Q4_K:
                for (int p = 0; p < 4; p++)
                {
                    for (int h = 0; h < 2; h++)
                    {
                        Vector128<byte> v = Vector128.Load(block + 16 + 32 * p + 16 * h);
                        (v & low4).Store((byte*)levels + 64 * p + 16 * h);
                        Vector128.ShiftRightLogical(v, 4).Store((byte*)levels + 64 * p + 32 + 16 * h);
                    }
                }
                return true;
            case KQuantType.Q2_K:
                for (int h = 0; h < 2; h++)
                {
                    for (int part = 0; part < 2; part++)
                    {
                        Vector128<byte> v = Vector128.Load(block + 16 + 32 * h + 16 * part);
                        for (int j = 0; j < 4; j++)
                            (Vector128.ShiftRightLogical(v, 2 * j) & low2).Store((byte*)levels + 128 * h + 32 * j + 16 * part);
                    }
                }
                return true;
            case KQuantType.Q3_K:
            {
                Vector128<byte> four = Vector128.Create((byte)4), one = Vector128<byte>.One;
                for (int h = 0; h < 2; h++)
                {
                    for (int part = 0; part < 2; part++)
                    {
                        Vector128<byte> v = Vector128.Load(block + 32 + 32 * h + 16 * part);
                        Vector128<byte> hm = Vector128.Load(block + 16 * part);
                        for (int j = 0; j < 4; j++)
                        {
                            Vector128<byte> high = Vector128.ShiftLeft(Vector128.ShiftRightLogical(hm, 4 * h + j) & one, 2);
                            ((Vector128.ShiftRightLogical(v, 2 * j) & low2 | high) - four).Store((byte*)levels + 128 * h + 32 * j + 16 * part);
                        }
                    }
                }
                return false;
            }
            case KQuantType.IQ3_S:
            {
                // Four magnitudes per grid point, written as one 32-bit word (the ninth index bit from qh, eight points
                // per qh byte), then the signs 16 values at a time: two sign bytes become 16 byte masks through
                // SignMasks, and a lane is negated ((m ^ mask) − mask) where its mask is set.
                byte* qs = block + 2, qh = block + 66, signs = block + 74;
                fixed (uint* grid = KQuantTypes.Iq3sGrid)
                fixed (ulong* masks = SignMasks)
                {
                    for (int g = 0; g < 64; g += 8)
                    {
                        int high = qh[g >> 3] << 8;
                        for (int k = 0; k < 8; k++)
                            ((uint*)levels)[g + k] = grid[qs[g + k] | (high >> k & 0x100)];
                    }
                    for (int i = 0; i < 16; i++)
                    {
                        Vector128<sbyte> negative = Vector128.Create(masks[signs[2 * i]], masks[signs[2 * i + 1]]).AsSByte();
                        Vector128<sbyte> magnitude = Vector128.Load(levels + 16 * i);
                        ((magnitude ^ negative) - negative).Store(levels + 16 * i);
                    }
                }
                return false;
            }
            default: // IQ4_XS (qs at 8, eight groups of 32) and IQ4_NL (qs at 2, one group)
            {
                Vector128<sbyte> table = Vector128.Create(KQuantTypes.NonLinearLevels);
                int groups = type == KQuantType.IQ4_XS ? 8 : 1;
                byte* qs = block + (type == KQuantType.IQ4_XS ? 8 : 2);
                for (int g = 0; g < groups; g++)
                {
                    Vector128<byte> v = Vector128.Load(qs + 16 * g);
                    Vector128.ShuffleNative(table, (v & low4).AsSByte()).Store(levels + 32 * g);
                    Vector128.ShuffleNative(table, Vector128.ShiftRightLogical(v, 4).AsSByte()).Store(levels + 32 * g + 16);
                }
                return false;
            }
        }
    }

    /// <summary>Per 16 values the scale dl and minimum ml, computed as the reference computes them (d·sc, dmin·m).</summary>
    private static void DecodeScales(KQuantType type, byte* block, float* dl, float* ml)
    {
        switch (type)
        {
            case KQuantType.Q2_K:
            {
                float d = Half(block + 80), min = Half(block + 82);
                for (int s = 0; s < 16; s++)
                {
                    dl[s] = d * (block[s] & 0xF);
                    ml[s] = min * (block[s] >> 4);
                }
                break;
            }
            case KQuantType.Q3_K:
            {
                float d = Half(block + 108);
                var scales = new ReadOnlySpan<byte>(block + 96, 12);
                for (int s = 0; s < 16; s++)
                    dl[s] = d * PackedReference.Q3KScale(scales, s);
                break;
            }
            case KQuantType.Q4_K:
            {
                float d = Half(block), min = Half(block + 2);
                var scales = new ReadOnlySpan<byte>(block + 4, 12);
                for (int j = 0; j < 8; j++)
                {
                    (int sc, int m) = PackedReference.Q4KScaleMin(scales, j);
                    dl[2 * j] = dl[2 * j + 1] = d * sc;
                    ml[2 * j] = ml[2 * j + 1] = min * m;
                }
                break;
            }
            case KQuantType.IQ4_XS:
            {
                float d = Half(block);
                int high = *(ushort*)(block + 2);
                for (int g = 0; g < 8; g++)
                {
                    int ls = (block[4 + g / 2] >> (4 * (g % 2)) & 0xF) | (high >> (2 * g) & 3) << 4;
                    dl[2 * g] = dl[2 * g + 1] = d * (ls - 32);
                }
                break;
            }
            case KQuantType.IQ3_S:
            {
                float d = Half(block);
                for (int g = 0; g < 8; g++)
                    dl[2 * g] = dl[2 * g + 1] = d * (1 + 2 * (block[106 + g / 2] >> (4 * (g % 2)) & 0xF));
                break;
            }
            default: // IQ4_NL
                dl[0] = dl[1] = Half(block);
                break;
        }
    }

    /// <summary>Signed byte levels to floats, 16 at a time.</summary>
    private static void Widen(sbyte* levels, float* q, int count)
    {
        for (int i = 0; i < count; i += 16)
        {
            (Vector128<short> low, Vector128<short> high) = Vector128.Widen(Vector128.Load(levels + i));
            (Vector128<int> a, Vector128<int> b) = Vector128.Widen(low);
            (Vector128<int> e, Vector128<int> f) = Vector128.Widen(high);
            Vector128.ConvertToSingle(a).Store(q + i);
            Vector128.ConvertToSingle(b).Store(q + i + 4);
            Vector128.ConvertToSingle(e).Store(q + i + 8);
            Vector128.ConvertToSingle(f).Store(q + i + 12);
        }
    }

    private static void RowsPortable(Context c, int first, int end)
    {
        PackedKQuantBlocks w = c.W;
        int blocks = w.BlocksPerRow, blockBytes = w.BlockBytes, values = w.BlockValues;
        Span<float> decoded = stackalloc float[KQuantTypes.SuperBlockSize];
        Span<float> sums = stackalloc float[MaxVectors];
        for (int row = first; row < end; row++)
        {
            sums.Clear();
            for (int b = 0; b < blocks; b++)
            {
                var block = new ReadOnlySpan<byte>((byte*)c.Blocks + ((long)row * blocks + b) * blockBytes, blockBytes);
                PackedReference.DecodeBlock(w.Type, block, decoded[..values]);
                for (int n = 0; n < c.Vectors; n++)
                    sums[n] += TensorPrimitives.Dot(decoded[..values], new ReadOnlySpan<float>((float*)c.X + n * w.Columns + b * values, values));
            }
            for (int n = 0; n < c.Vectors; n++)
                ((float*)c.Y)[n * w.Rows + row] = sums[n];
        }
    }

    private static float Half(byte* p) => (float)BitConverter.UInt16BitsToHalf(*(ushort*)p);
}
