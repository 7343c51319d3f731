using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>
/// Rows of a kept 16-bit matrix (IEEE half, or bfloat16 when <c>brain</c>) times a float32 vector, each weight widened
/// in registers and never stored as float32: the product of the FP16 head and embedding that the quantized model keeps.
/// A half's bits, sign-extended to 32 and shifted left by 13, hold its exponent and mantissa where a float32's are and
/// its sign in the sign bit (copies of the sign above the exponent are masked off); scaled by 2^112 that is the half's
/// exact value, subnormals included. Four operations per vector of weights before the multiply-add, which keeps the
/// conversion from bounding the product below memory speed. A bfloat16 is the upper half of a float32. Weights must be
/// finite (an infinity or NaN half reads as a large finite value; <see cref="Reference"/> keeps it).
/// <para>
/// Tiers: AVX-512 (32 weights per step), AVX2 (16), 128-bit (8: SSE, or AdvSimd on ARM64) and the scalar
/// <see cref="Reference"/>; each sums in its own order, so tiers agree to float rounding, not bit for bit.
/// </para>
/// </summary>
public static class HalfMatVec
{
    /// <summary>The widest tier this machine runs (every machine runs <see cref="SimdTier.Scalar"/>).</summary>
    public static SimdTier Tier { get; } = SimdTiers.Best;

    /// <summary>A half's bits sign-extended and shifted by 13: its sign bit and its exponent and mantissa in place.</summary>
    private const int HalfBitsMask = unchecked((int)0x8FFFE000);

    /// <summary>2^112: the difference of the float32 and half exponent biases (127 − 15).</summary>
    private const float HalfExponentScale = 5.192297e33f;

    /// <summary>
    /// Halves ahead of the one being read that the 256- and 512-bit loops ask to have in cache, one cache line per 32
    /// halves. Without it a row-by-row FP16 product (the kept head) read memory at half the rate of a float32 one: the
    /// 65536 × 768 head took 15.4 ms on one thread, 7.9 ms with it (Intel Xeon, AVX-512). A prefetch never faults (past
    /// the end, or at an address the garbage collector has since moved: it only fetches a line that is not used).
    /// </summary>
    private const int PrefetchHalves = 1024;

    /// <summary>y[r] = Σ_k W[r, k]·x[k] for rows [<paramref name="start"/>, <paramref name="end"/>) of W <c>[rows, x.Length]</c>, on <see cref="Tier"/>.</summary>
    public static void Rows(ReadOnlySpan<ushort> w, ReadOnlySpan<float> x, Span<float> y, int start, int end, bool brain) =>
        Rows(w, x, y, start, end, brain, Tier);

    /// <summary>As above on <paramref name="tier"/> (tests force the lower tiers with it).</summary>
    /// <exception cref="PlatformNotSupportedException">This machine does not run <paramref name="tier"/>.</exception>
    /// <exception cref="ArgumentException">W is not a whole number of rows of x's length, or the range lies outside it or y.</exception>
    public static void Rows(ReadOnlySpan<ushort> w, ReadOnlySpan<float> x, Span<float> y, int start, int end, bool brain, SimdTier tier)
    {
        if (!SimdTiers.IsSupported(tier))
            throw new PlatformNotSupportedException($"This machine does not run the {SimdTiers.Describe(tier)} tier.");
        int columns = x.Length;
        if (columns == 0 || w.Length % columns != 0)
            throw new ArgumentException($"W has {w.Length} values, not whole rows of {columns}.", nameof(w));
        int rows = w.Length / columns;
        if (start < 0 || end > rows || start > end || end > y.Length)
            throw new ArgumentException($"Rows [{start}, {end}) lie outside W's {rows} rows or y's {y.Length} values.", nameof(start));
        for (int r = start; r < end; r++)
            y[r] = Dot(w.Slice(r * columns, columns), x, brain, tier);
    }

    /// <summary>Σ_k w_k·x_k on <paramref name="tier"/> (which the caller has checked the machine runs).</summary>
    public static float Dot(ReadOnlySpan<ushort> w, ReadOnlySpan<float> x, bool brain, SimdTier tier) => tier switch
    {
        SimdTier.Avx512 => Dot512(w, x, brain),
        SimdTier.Avx2 => Dot256(w, x, brain),
        SimdTier.Vector128 => Dot128(w, x, brain),
        _ => Reference(w, x, brain),
    };

    /// <summary>The scalar twin: each weight converted by the runtime's own conversion, summed in order.</summary>
    public static float Reference(ReadOnlySpan<ushort> w, ReadOnlySpan<float> x, bool brain)
    {
        float sum = 0;
        for (int i = 0; i < w.Length; i++)
            sum += Value(w[i], brain) * x[i];
        return sum;
    }

    /// <summary>One 16-bit weight's float32 value.</summary>
    public static float Value(ushort bits, bool brain) =>
        brain ? BitConverter.UInt32BitsToSingle((uint)bits << 16) : (float)BitConverter.UInt16BitsToHalf(bits);

    /// <summary>32 weights per step in 512-bit registers, the rest by <see cref="Dot256"/>.</summary>
    private static unsafe float Dot512(ReadOnlySpan<ushort> w, ReadOnlySpan<float> x, bool brain)
    {
        int n = w.Length, i = 0;
        Vector512<float> acc0 = Vector512<float>.Zero, acc1 = Vector512<float>.Zero;
        ref short pw = ref Unsafe.As<ushort, short>(ref MemoryMarshal.GetReference(w));
        ref float px = ref MemoryMarshal.GetReference(x);
        for (; i + 32 <= n; i += 32)
        {
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref pw, i + PrefetchHalves)));
            (Vector512<int> low, Vector512<int> high) = Vector512.Widen(Vector512.LoadUnsafe(ref pw, (nuint)i));
            acc0 = Vector512.FusedMultiplyAdd(ToSingle(low, brain), Vector512.LoadUnsafe(ref px, (nuint)i), acc0);
            acc1 = Vector512.FusedMultiplyAdd(ToSingle(high, brain), Vector512.LoadUnsafe(ref px, (nuint)(i + 16)), acc1);
        }
        float sum = Vector512.Sum(acc0 + acc1);
        return i == n ? sum : sum + Dot256(w[i..], x[i..], brain);
    }

    /// <summary>16 weights per step in 256-bit registers, the tail one by one.</summary>
    private static unsafe float Dot256(ReadOnlySpan<ushort> w, ReadOnlySpan<float> x, bool brain)
    {
        int n = w.Length, i = 0;
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        ref short pw = ref Unsafe.As<ushort, short>(ref MemoryMarshal.GetReference(w));
        ref float px = ref MemoryMarshal.GetReference(x);
        for (; i + 16 <= n; i += 16)
        {
            if (Sse.IsSupported && (i & 31) == 0)
                Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref pw, i + PrefetchHalves)));
            (Vector256<int> low, Vector256<int> high) = Vector256.Widen(Vector256.LoadUnsafe(ref pw, (nuint)i));
            acc0 = Vector256.FusedMultiplyAdd(ToSingle(low, brain), Vector256.LoadUnsafe(ref px, (nuint)i), acc0);
            acc1 = Vector256.FusedMultiplyAdd(ToSingle(high, brain), Vector256.LoadUnsafe(ref px, (nuint)(i + 8)), acc1);
        }
        float sum = Vector256.Sum(acc0 + acc1);
        for (; i < n; i++)
            sum += Value(w[i], brain) * x[i];
        return sum;
    }

    /// <summary>8 weights per step in 128-bit registers (SSE, or AdvSimd on ARM64), the tail one by one.</summary>
    private static float Dot128(ReadOnlySpan<ushort> w, ReadOnlySpan<float> x, bool brain)
    {
        int n = w.Length, i = 0;
        Vector128<float> acc0 = Vector128<float>.Zero, acc1 = Vector128<float>.Zero;
        ref short pw = ref Unsafe.As<ushort, short>(ref MemoryMarshal.GetReference(w));
        ref float px = ref MemoryMarshal.GetReference(x);
        for (; i + 8 <= n; i += 8)
        {
            (Vector128<int> low, Vector128<int> high) = Vector128.Widen(Vector128.LoadUnsafe(ref pw, (nuint)i));
            acc0 = Vector128.FusedMultiplyAdd(ToSingle(low, brain), Vector128.LoadUnsafe(ref px, (nuint)i), acc0);
            acc1 = Vector128.FusedMultiplyAdd(ToSingle(high, brain), Vector128.LoadUnsafe(ref px, (nuint)(i + 4)), acc1);
        }
        float sum = Vector128.Sum(acc0 + acc1);
        for (; i < n; i++)
            sum += Value(w[i], brain) * x[i];
        return sum;
    }

    private static Vector128<float> ToSingle(Vector128<int> bits, bool brain) =>
        brain ? (bits << 16).AsSingle() : ((bits << 13) & Vector128.Create(HalfBitsMask)).AsSingle() * Vector128.Create(HalfExponentScale);

    private static Vector256<float> ToSingle(Vector256<int> bits, bool brain) =>
        brain ? (bits << 16).AsSingle() : ((bits << 13) & Vector256.Create(HalfBitsMask)).AsSingle() * Vector256.Create(HalfExponentScale);

    private static Vector512<float> ToSingle(Vector512<int> bits, bool brain) =>
        brain ? (bits << 16).AsSingle() : ((bits << 13) & Vector512.Create(HalfBitsMask)).AsSingle() * Vector512.Create(HalfExponentScale);
}
