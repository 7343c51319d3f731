using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RwkvQuant.Kernels.Packed;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>
/// The fast CPU product of ggml block weights and up to <see cref="MaxVectors"/> vectors, reading only the blocks.
/// Every block type is x = d·q + c with c = −8d (Q4_0), −16d (Q5_0), 0 (Q8_0) or m (Q4_1, Q5_1), so a block
/// contributes d·Σq·x + c·X_b with X_b = Σ x over the block, computed once per vector. With AVX-512 the 32 codes of a
/// block are widened to two 16-lane vectors, with AVX2 to four 8-lane vectors (nibbles split, the Q5 fifth bits
/// shifted out of qh), on the 128-bit tier (SSE, or AdvSimd on ARM64) to eight 4-lane vectors with the portable
/// <see cref="Vector128"/> API only; on the <see cref="SimdTier.Scalar"/> tier each block is decoded to floats by the
/// reference and dotted with TensorPrimitives.
/// </summary>
public static unsafe class GgmlMatVec
{
    /// <summary>Vectors multiplied in one pass over the weights.</summary>
    public const int MaxVectors = 8;

    private const int Block = PackedGgmlBlocks.BlockSize;

    /// <summary>The widest tier of this kernel that the machine runs (every tier has a path).</summary>
    public static SimdTier Tier { get; } = SimdTiers.Best;

    /// <summary>True when the hardware runs <paramref name="tier"/> (the kernel has a path for every tier).</summary>
    public static bool Supports(SimdTier tier) => SimdTiers.IsSupported(tier);

    /// <summary>Effectively computes y[n, r] = Σ_c W[r, c]·x[n, c] for x <c>[vectors, Columns]</c>, y <c>[vectors, Rows]</c>.</summary>
    public static void MatVec(PackedGgmlBlocks w, ReadOnlySpan<float> x, Span<float> y, int vectors) =>
        MatVec(w, x, y, vectors, Tier);

    /// <summary>As above on <paramref name="tier"/> (tests force the lower tiers with it).</summary>
    /// <exception cref="PlatformNotSupportedException">The machine does not run <paramref name="tier"/>.</exception>
    public static void MatVec(PackedGgmlBlocks w, ReadOnlySpan<float> x, Span<float> y, int vectors, SimdTier tier)
    {
        ArgumentNullException.ThrowIfNull(w);
        PackedReference.CheckShapes(w.Rows, w.Columns, x, y, vectors);
        if (!Supports(tier))
            throw new PlatformNotSupportedException($"The ggml block product has no {SimdTiers.Describe(tier)} path on this machine.");
        for (int first = 0; first < vectors; first += MaxVectors)
        {
            int count = Math.Min(MaxVectors, vectors - first);
            Pass(w, x.Slice(first * w.Columns, count * w.Columns), y.Slice(first * w.Rows, count * w.Rows), count, tier);
        }
    }

    private static void Pass(PackedGgmlBlocks w, ReadOnlySpan<float> x, Span<float> y, int vectors, SimdTier tier)
    {
        int blocks = w.BlocksPerRow;
        float[] xs = ArrayPool<float>.Shared.Rent(vectors * w.Columns);
        float[] sums = ArrayPool<float>.Shared.Rent(vectors * blocks);
        try
        {
            x.CopyTo(xs);
            for (int n = 0; n < vectors; n++)
                for (int b = 0; b < blocks; b++)
                    sums[n * blocks + b] = TensorPrimitives.Sum(x.Slice(n * w.Columns + b * Block, Block));
            fixed (float* xp = xs)
            fixed (float* sp = sums)
            fixed (float* yp = y)
            fixed (byte* bp = w.Blocks)
            {
                var c = new Context(w, (nint)xp, (nint)sp, (nint)bp, (nint)yp, vectors);
                RowPartition.For(w.Rows, (long)w.Columns * vectors, (first, end) =>
                {
                    for (int row = first; row < end; row++)
                    {
                        if (tier == SimdTier.Avx512)
                            RowAvx512(c, row);
                        else if (tier == SimdTier.Avx2)
                            RowAvx2(c, row);
                        else if (tier == SimdTier.Vector128)
                            Row128(c, row);
                        else
                            RowPortable(c, row);
                    }
                });
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(xs);
            ArrayPool<float>.Shared.Return(sums);
        }
    }

    private readonly record struct Context(PackedGgmlBlocks W, nint X, nint BlockSums, nint Blocks, nint Y, int Vectors);

    private static void RowAvx512(Context c, int row)
    {
        PackedGgmlBlocks w = c.W;
        int blocks = w.BlocksPerRow, blockBytes = w.BlockBytes, vectors = c.Vectors;
        GgmlBlockType type = w.Type;
        byte* block = (byte*)c.Blocks + (long)row * blocks * blockBytes;
        Vector512<float>* totals = stackalloc Vector512<float>[MaxVectors];
        float* corrections = stackalloc float[MaxVectors];
        for (int n = 0; n < vectors; n++)
        {
            totals[n] = Vector512<float>.Zero;
            corrections[n] = 0;
        }
        for (int b = 0; b < blocks; b++, block += blockBytes)
        {
            float d = Half(block);
            GgmlBlockCodes.Decode(type, block, out Vector512<int> lowCodes, out Vector512<int> highCodes);
            Vector512<float> low = Avx512F.ConvertToVector512Single(lowCodes);
            Vector512<float> high = Avx512F.ConvertToVector512Single(highCodes);
            float offset = Offset(type, block, d);
            Vector512<float> scale = Vector512.Create(d);
            float* xk = (float*)c.X + b * Block;
            float* sums = (float*)c.BlockSums + b;
            for (int n = 0; n < vectors; n++, xk += w.Columns, sums += blocks)
            {
                Vector512<float> dot = Avx512F.FusedMultiplyAdd(high, Avx512F.LoadVector512(xk + 16), low * Avx512F.LoadVector512(xk));
                totals[n] = Avx512F.FusedMultiplyAdd(dot, scale, totals[n]);
                corrections[n] += offset * *sums;
            }
        }
        for (int n = 0; n < vectors; n++)
            ((float*)c.Y)[n * w.Rows + row] = Vector512.Sum(totals[n]) + corrections[n];
    }

    /// <summary>As <see cref="RowAvx512"/> with the 32 codes of a block in four 8-lane vectors.</summary>
    private static void RowAvx2(Context c, int row)
    {
        PackedGgmlBlocks w = c.W;
        int blocks = w.BlocksPerRow, blockBytes = w.BlockBytes, vectors = c.Vectors;
        GgmlBlockType type = w.Type;
        byte* block = (byte*)c.Blocks + (long)row * blocks * blockBytes;
        Vector256<float>* totals = stackalloc Vector256<float>[MaxVectors];
        float* corrections = stackalloc float[MaxVectors];
        for (int n = 0; n < vectors; n++)
        {
            totals[n] = Vector256<float>.Zero;
            corrections[n] = 0;
        }
        for (int b = 0; b < blocks; b++, block += blockBytes)
        {
            float d = Half(block);
            GgmlBlockCodes.Decode(type, block, out Vector256<int> codes0, out Vector256<int> codes1, out Vector256<int> codes2, out Vector256<int> codes3);
            Vector256<float> q0 = Avx.ConvertToVector256Single(codes0), q1 = Avx.ConvertToVector256Single(codes1);
            Vector256<float> q2 = Avx.ConvertToVector256Single(codes2), q3 = Avx.ConvertToVector256Single(codes3);
            float offset = Offset(type, block, d);
            Vector256<float> scale = Vector256.Create(d);
            float* xk = (float*)c.X + b * Block;
            float* sums = (float*)c.BlockSums + b;
            for (int n = 0; n < vectors; n++, xk += w.Columns, sums += blocks)
            {
                Vector256<float> dot = Fma.MultiplyAdd(q1, Avx.LoadVector256(xk + 8), q0 * Avx.LoadVector256(xk));
                dot = Fma.MultiplyAdd(q2, Avx.LoadVector256(xk + 16), dot);
                dot = Fma.MultiplyAdd(q3, Avx.LoadVector256(xk + 24), dot);
                totals[n] = Fma.MultiplyAdd(dot, scale, totals[n]);
                corrections[n] += offset * *sums;
            }
        }
        for (int n = 0; n < vectors; n++)
            ((float*)c.Y)[n * w.Rows + row] = Vector256.Sum(totals[n]) + corrections[n];
    }

    /// <summary>The block's constant term c in x = d·q + c: −8d (Q4_0), −16d (Q5_0), 0 (Q8_0) or the stored m (Q4_1, Q5_1).</summary>
    private static float Offset(GgmlBlockType type, byte* block, float d) => type switch
    {
        GgmlBlockType.Q8_0 => 0,
        GgmlBlockType.Q4_0 => -8 * d,
        GgmlBlockType.Q5_0 => -16 * d,
        _ => Half(block + 2),
    };

    /// <summary>As <see cref="RowAvx2"/> with the 32 codes of a block in eight 4-lane vectors, portable API only.</summary>
    private static void Row128(Context c, int row)
    {
        PackedGgmlBlocks w = c.W;
        int blocks = w.BlocksPerRow, blockBytes = w.BlockBytes, vectors = c.Vectors;
        GgmlBlockType type = w.Type;
        byte* block = (byte*)c.Blocks + (long)row * blocks * blockBytes;
        Vector128<float>* totals = stackalloc Vector128<float>[MaxVectors];
        Vector128<float>* q = stackalloc Vector128<float>[8];
        float* corrections = stackalloc float[MaxVectors];
        for (int n = 0; n < vectors; n++)
        {
            totals[n] = Vector128<float>.Zero;
            corrections[n] = 0;
        }
        for (int b = 0; b < blocks; b++, block += blockBytes)
        {
            float d = Half(block);
            Decode128(type, block, q);
            float offset = Offset(type, block, d);
            Vector128<float> scale = Vector128.Create(d);
            float* xk = (float*)c.X + b * Block;
            float* sums = (float*)c.BlockSums + b;
            for (int n = 0; n < vectors; n++, xk += w.Columns, sums += blocks)
            {
                Vector128<float> dot0 = q[0] * Vector128.Load(xk), dot1 = q[1] * Vector128.Load(xk + 4);
                for (int v = 2; v < 8; v += 2)
                {
                    dot0 = Vector128.MultiplyAddEstimate(q[v], Vector128.Load(xk + 4 * v), dot0);
                    dot1 = Vector128.MultiplyAddEstimate(q[v + 1], Vector128.Load(xk + 4 * v + 4), dot1);
                }
                totals[n] = Vector128.MultiplyAddEstimate(dot0 + dot1, scale, totals[n]);
                corrections[n] += offset * *sums;
            }
        }
        for (int n = 0; n < vectors; n++)
            ((float*)c.Y)[n * w.Rows + row] = Vector128.Sum(totals[n]) + corrections[n];
    }

    /// <summary>
    /// The 32 codes of one block as floats, 4 per vector in order: Q8_0's bytes sign-extended; Q4/Q5's low nibbles
    /// (codes 0–15) then high nibbles (16–31) zero-extended, with Q5's fifth bit j taken from qh by a per-lane mask.
    /// </summary>
    private static void Decode128(GgmlBlockType type, byte* block, Vector128<float>* codes)
    {
        if (type == GgmlBlockType.Q8_0)
        {
            for (int half = 0; half < 2; half++)
            {
                (Vector128<short> low, Vector128<short> high) = Vector128.Widen(Vector128.Load((sbyte*)block + 2 + 16 * half));
                (Vector128<int> a, Vector128<int> b) = Vector128.Widen(low);
                (Vector128<int> e, Vector128<int> f) = Vector128.Widen(high);
                codes[4 * half] = Vector128.ConvertToSingle(a);
                codes[4 * half + 1] = Vector128.ConvertToSingle(b);
                codes[4 * half + 2] = Vector128.ConvertToSingle(e);
                codes[4 * half + 3] = Vector128.ConvertToSingle(f);
            }
            return;
        }
        int qsOffset = type switch { GgmlBlockType.Q4_0 => 2, GgmlBlockType.Q4_1 => 4, GgmlBlockType.Q5_0 => 6, _ => 8 };
        bool fifth = type is GgmlBlockType.Q5_0 or GgmlBlockType.Q5_1;
        Vector128<uint> qh = fifth ? Vector128.Create(*(uint*)(block + qsOffset - 4)) : Vector128<uint>.Zero;
        Vector128<byte> qs = Vector128.Load(block + qsOffset);
        Vector128<byte> nibbles0 = qs & Vector128.Create((byte)0x0F), nibbles1 = Vector128.ShiftRightLogical(qs, 4);
        for (int half = 0; half < 2; half++)
        {
            (Vector128<ushort> low, Vector128<ushort> high) = Vector128.Widen(half == 0 ? nibbles0 : nibbles1);
            (Vector128<uint> a, Vector128<uint> b) = Vector128.Widen(low);
            (Vector128<uint> e, Vector128<uint> f) = Vector128.Widen(high);
            codes[4 * half] = WithFifthBits(a, 16 * half, qh, fifth);
            codes[4 * half + 1] = WithFifthBits(b, 16 * half + 4, qh, fifth);
            codes[4 * half + 2] = WithFifthBits(e, 16 * half + 8, qh, fifth);
            codes[4 * half + 3] = WithFifthBits(f, 16 * half + 12, qh, fifth);
        }
    }

    /// <summary>
    /// Codes j … j + 3 as floats, with (Q5) bits j … j + 3 of qh as their fifth bits: each lane masks its own bit, and
    /// min(masked, 1) is that bit, moved to 16.
    /// </summary>
    private static Vector128<float> WithFifthBits(Vector128<uint> codes, int j, Vector128<uint> qh, bool fifth)
    {
        if (fifth)
        {
            Vector128<uint> masks = Vector128.Create(1u << j, 1u << (j + 1), 1u << (j + 2), 1u << (j + 3));
            codes |= Vector128.ShiftLeft(Vector128.Min(qh & masks, Vector128<uint>.One), 4);
        }
        return Vector128.ConvertToSingle(codes.AsInt32());
    }

    private static void RowPortable(Context c, int row)
    {
        PackedGgmlBlocks w = c.W;
        int blocks = w.BlocksPerRow, blockBytes = w.BlockBytes;
        Span<float> values = stackalloc float[Block];
        Span<float> sums = stackalloc float[MaxVectors];
        sums.Clear();
        for (int b = 0; b < blocks; b++)
        {
            var block = new ReadOnlySpan<byte>((byte*)c.Blocks + ((long)row * blocks + b) * blockBytes, blockBytes);
            PackedReference.DecodeBlock(w.Type, block, values);
            for (int n = 0; n < c.Vectors; n++)
                sums[n] += TensorPrimitives.Dot(values, new ReadOnlySpan<float>((float*)c.X + n * w.Columns + b * Block, Block));
        }
        for (int n = 0; n < c.Vectors; n++)
            ((float*)c.Y)[n * w.Rows + row] = sums[n];
    }

    internal static float Half(byte* p) => (float)BitConverter.UInt16BitsToHalf(*(ushort*)p);
}
