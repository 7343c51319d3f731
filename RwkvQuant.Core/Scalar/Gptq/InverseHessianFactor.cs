using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace RwkvQuant.Scalar.Gptq;

/// <summary>
/// The upper Cholesky factor U of the damped inverse Hessian, (H + λI)⁻¹ = UᵀU, with λ = p·mean(diag H): row i of U
/// holds, scaled by U_ii, the error-feedback coefficients of column i onto the columns after it. When a Cholesky
/// factorization fails (H not positive definite enough), p is multiplied by 10 and the factorization retried.
/// </summary>
internal static class InverseHessianFactor
{
    /// <summary>Factors <paramref name="hessian"/> (float64 <c>[n, n]</c>, symmetric, no zero diagonal).</summary>
    /// <returns>U, float64 <c>[n, n]</c> upper triangular with a positive diagonal.</returns>
    /// <exception cref="InvalidOperationException">All <paramref name="maxAttempts"/> dampings failed.</exception>
    public static Tensor Compute(Tensor hessian, double dampingPercent, int maxAttempts, string tensorName, List<string> notes)
    {
        using var scope = NewDisposeScope();
        long n = hessian.shape[0];
        double meanDiagonal = hessian.diagonal().abs().mean().item<double>();
        Tensor identity = eye(n, dtype: ScalarType.Float64);
        double percent = dampingPercent;
        for (int attempt = 0; attempt < maxAttempts; attempt++, percent *= 10)
        {
            using var attemptScope = NewDisposeScope();
            Tensor damped = hessian.add(identity, alpha: percent * meanDiagonal);
            (Tensor lower, Tensor info) = linalg.cholesky_ex(damped);
            if (info.item<int>() != 0)
                continue;
            (Tensor inverseLower, Tensor inverseInfo) = linalg.cholesky_ex(lower.cholesky_inverse()); // (H + λI)⁻¹ = L′L′ᵀ
            if (inverseInfo.item<int>() != 0)
                continue;
            Tensor upper = inverseLower.t().contiguous(); // U = L′ᵀ
            if (!isfinite(upper).all().item<bool>() || !(upper.diagonal() > 0).all().item<bool>())
                continue;
            if (attempt > 0)
            {
                notes.Add(string.Create(CultureInfo.InvariantCulture,
                    $"{tensorName}: Cholesky of H failed at {dampingPercent:P0} damping; raised to {percent:G3} × mean diag(H) ({attempt} raise(s))."));
            }
            upper.MoveToOuterDisposeScope(); // out of this attempt's scope
            return upper.MoveToOuterDisposeScope(); // and out of this method's
        }
        throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
            $"Tensor '{tensorName}': the Cholesky factorization of the damped Hessian failed at every damping from {dampingPercent:G3} to {percent / 10:G3} × mean diag(H); the Hessian is not usable."));
    }
}
