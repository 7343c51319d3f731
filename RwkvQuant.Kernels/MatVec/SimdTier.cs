using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace RwkvQuant.Kernels.MatVec;

/// <summary>
/// The instruction sets a CPU product has a path for, narrowest first. A product runs the widest tier the machine has
/// (<see cref="SimdTiers.Best"/>) unless a caller asks for a lower one, so that a machine with AVX-512 also proves the
/// AVX2 and 128-bit code.
/// </summary>
public enum SimdTier
{
    /// <summary>Plain scalar code: every machine.</summary>
    Scalar = 0,

    /// <summary>128-bit vectors through the portable <see cref="Vector128"/> API: SSE on x86, AdvSimd on ARM64.</summary>
    Vector128 = 1,

    /// <summary>256-bit AVX2 with FMA (most x86 machines since 2013).</summary>
    Avx2 = 2,

    /// <summary>512-bit AVX-512 (F and BW).</summary>
    Avx512 = 3,
}

/// <summary>Which <see cref="SimdTier"/>s this machine runs; one predicate per tier, read once.</summary>
public static class SimdTiers
{
    /// <summary>The widest tier this machine runs.</summary>
    public static SimdTier Best { get; } =
        IsSupported(SimdTier.Avx512) ? SimdTier.Avx512
        : IsSupported(SimdTier.Avx2) ? SimdTier.Avx2
        : IsSupported(SimdTier.Vector128) ? SimdTier.Vector128
        : SimdTier.Scalar;

    /// <summary>Every tier this machine runs, narrowest first.</summary>
    public static IReadOnlyList<SimdTier> Supported { get; } =
        [.. Enum.GetValues<SimdTier>().Where(IsSupported)];

    /// <summary>True when the hardware runs <paramref name="tier"/>.</summary>
    public static bool IsSupported(SimdTier tier) => tier switch
    {
        SimdTier.Scalar => true,
        SimdTier.Vector128 => Vector128.IsHardwareAccelerated,
        SimdTier.Avx2 => Avx2.IsSupported && Fma.IsSupported,
        SimdTier.Avx512 => Avx512F.IsSupported && Avx512BW.IsSupported,
        _ => false,
    };

    /// <summary>A short name for reports: "AVX-512", "AVX2", "128-bit" or "scalar".</summary>
    public static string Describe(SimdTier tier) => tier switch
    {
        SimdTier.Avx512 => "AVX-512",
        SimdTier.Avx2 => "AVX2",
        SimdTier.Vector128 => "128-bit",
        _ => "scalar",
    };
}
