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
/// shifted out of qh); on the <see cref="SimdTier.Scalar"/> tier each block is decoded to floats by the reference and
/// dotted with TensorPrimitives.
/// </summary>
public static unsafe class GgmlMatVec
{
    /// <summary>Vectors multiplied in one pass over the weights.</summary>
    public const int MaxVectors = 8;

    private const int Block = PackedGgmlBlocks.BlockSize;

    /// <summary>The widest tier of this kernel that the machine runs: AVX-512, AVX2, else the scalar decode.</summary>
    public static SimdTier Tier { get; } = SimdTiers.IsSupported(SimdTier.Avx512) ? SimdTier.Avx512
        : SimdTiers.IsSupported(SimdTier.Avx2) ? SimdTier.Avx2 : SimdTier.Scalar;

    /// <summary>True when the kernel has a path for <paramref name="tier"/> and the hardware runs it.</summary>
    public static bool Supports(SimdTier tier) => tier is SimdTier.Avx512 or SimdTier.Avx2 or SimdTier.Scalar && SimdTiers.IsSupported(tier);

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
            float offset = type switch
            {
                GgmlBlockType.Q8_0 => 0,
                GgmlBlockType.Q4_0 => -8 * d,
                GgmlBlockType.Q5_0 => -16 * d,
                _ => Half(block + 2),
            };
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
            float offset = type switch
            {
                GgmlBlockType.Q8_0 => 0,
                GgmlBlockType.Q4_0 => -8 * d,
                GgmlBlockType.Q5_0 => -16 * d,
                _ => Half(block + 2),
            };
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
