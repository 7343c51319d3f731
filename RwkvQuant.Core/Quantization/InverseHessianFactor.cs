using System.Globalization;
using TorchSharp;
using static RwkvQuant.Native.TorchScalars;
using static TorchSharp.torch;

namespace RwkvQuant.Quantization;

/// <summary>
/// The upper Cholesky factor U of the damped inverse Hessian, (H + λI)⁻¹ = UᵀU, with λ = p·mean(|diag H|): row i of U
/// holds, scaled by U_ii, the error-feedback coefficients of column i onto the columns after it. When a Cholesky
/// factorization fails (H not positive definite enough), p is multiplied by 10 and the factorization retried.
/// Shared by GPTQ and GPTVQ.
/// </summary>
internal static class InverseHessianFactor
{
    /// <summary>
    /// GPTQ's treatment of dead inputs: where H_jj = 0 (the input is always zero) sets H_jj = 1 in place, so H stays
    /// invertible; the caller zeroes those weight columns. Returns the dead-column mask.
    /// </summary>
    public static bool[] ReviveDeadColumns(Tensor hessian)
    {
        using var scope = NewDisposeScope();
        Tensor deadMask = hessian.diagonal().eq(Zero);
        bool[] dead = deadMask.data<bool>().ToArray();
        hessian.diagonal().masked_fill_(deadMask, OneDouble);
        return dead;
    }

    /// <summary>Factors <paramref name="hessian"/> (float64 <c>[n, n]</c>, symmetric, no zero diagonal).</summary>
    /// <returns>U, float64 <c>[n, n]</c> upper triangular with a positive diagonal.</returns>
    /// <exception cref="InvalidOperationException">All <paramref name="maxAttempts"/> dampings failed.</exception>
    public static Tensor Compute(Tensor hessian, double dampingPercent, int maxAttempts, string tensorName, List<string> notes)
    {
        using var scope = NewDisposeScope();
        long n = hessian.shape[0];
        double meanDiagonal = hessian.diagonal().abs().mean().item<double>();
        double percent = dampingPercent;
        // Each n×n float64 intermediate is freed as soon as the next exists: at most three are alive besides the
        // caller's H (n = 14,336, a 14B model's feed-forward width, makes each 1.6 GB).
        for (int attempt = 0; attempt < maxAttempts; attempt++, percent *= 10)
        {
            using var attemptScope = NewDisposeScope();
            // U without forming H⁻¹: with J the reversal, J·H·J = L̃L̃ᵀ gives H = RRᵀ, R = J·L̃·J upper, so
            // H⁻¹ = R⁻ᵀR⁻¹ and U = R⁻¹ = J·L̃⁻¹·J. One Cholesky and one triangular solve, against chol → cholesky_inverse
            // → chol, which is several times slower in libtorch on the CPU (cholesky_inverse dominates) and factors the explicit inverse.
            Tensor reversed = hessian.flip(0, 1); // J·H·J: a copy, damped in place below (the diagonal reverses onto itself)
            using (var damping = (percent * meanDiagonal).ToScalar())
                reversed.diagonal().add_(damping, One);
            (Tensor reversedLower, Tensor info) = linalg.cholesky_ex(reversed);
            reversed.Dispose();
            if (info.item<int>() != 0)
                continue;
            Tensor identity = eye(n, dtype: ScalarType.Float64);
            Tensor inverse = linalg.solve_triangular(reversedLower, identity, upper: false);
            reversedLower.Dispose();
            identity.Dispose();
            Tensor upper = inverse.flip(0, 1);
            inverse.Dispose();
            if (!isfinite(upper).all().item<bool>() || !upper.diagonal().gt(Zero).all().item<bool>())
                continue;
            if (attempt > 0)
            {
                notes.Add(string.Create(CultureInfo.InvariantCulture,
                    $"Cholesky of H failed at {dampingPercent:P0} damping; raised to {percent:G3} × mean diag(H) ({attempt} raise(s))."));
            }
            upper.MoveToOuterDisposeScope(); // out of this attempt's scope
            return upper.MoveToOuterDisposeScope(); // and out of this method's
        }
        throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
            $"Tensor '{tensorName}': the Cholesky factorization of the damped Hessian failed at every damping from {dampingPercent:G3} to {percent / 10:G3} × mean diag(H); the Hessian is not usable."));
    }
}
