using RwkvQuant.Kernels.MatVec;

namespace RwkvQuant.Tests.Kernels;

/// <summary>A fact of one SIMD tier, skipped with a line naming the tier on a machine that does not run it.</summary>
internal sealed class TierFactAttribute : FactAttribute
{
    public TierFactAttribute(SimdTier tier)
    {
        if (!SimdTiers.IsSupported(tier))
            Skip = TierSkip.Because(tier);
    }
}

/// <summary>A theory of one SIMD tier, skipped with a line naming the tier on a machine that does not run it.</summary>
internal sealed class TierTheoryAttribute : TheoryAttribute
{
    public TierTheoryAttribute(SimdTier tier)
    {
        if (!SimdTiers.IsSupported(tier))
            Skip = TierSkip.Because(tier);
    }
}

/// <summary>A fact that is skipped, saying why, on a machine without AVX-512.</summary>
public sealed class Avx512FactAttribute : FactAttribute
{
    public Avx512FactAttribute()
    {
        if (!SimdTiers.IsSupported(SimdTier.Avx512))
            Skip = TierSkip.Because(SimdTier.Avx512);
    }
}

internal static class TierSkip
{
    public static string Because(SimdTier tier) =>
        $"This machine does not run the {SimdTiers.Describe(tier)} tier (best here: {SimdTiers.Describe(SimdTiers.Best)}); that tier's code was not run.";
}
