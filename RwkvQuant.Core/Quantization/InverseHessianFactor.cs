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

    /// <summary>
    /// True when every element is finite, checked a block of <see cref="SolveBlock"/> rows at a time: isfinite() over the
    /// whole matrix makes an n×n float64 absolute value and a mask beside it (0.7 GB at n = 8,192).
    /// </summary>
    private static bool AllFinite(Tensor matrix)
    {
        long n = matrix.shape[0];
        for (long start = 0; start < n; start += SolveBlock)
        {
            using var scope = NewDisposeScope();
            if (!isfinite(matrix.narrow(0, start, Math.Min(SolveBlock, n - start))).all().item<bool>())
                return false;
        }
        return true;
    }

    /// <summary>The columns of the identity solved against at once when inverting the Cholesky factor.</summary>
    internal const int SolveBlock = 1024;

    /// <summary>
    /// Factors <paramref name="hessian"/> (float64 <c>[n, n]</c>, symmetric, no zero diagonal) and disposes it: the
    /// caller hands its copy over, so that it is freed as soon as the reversed copy exists.
    /// </summary>
    /// <returns>U, float64 <c>[n, n]</c> upper triangular with a positive diagonal.</returns>
    /// <exception cref="InvalidOperationException">All <paramref name="maxAttempts"/> dampings failed.</exception>
    public static Tensor ComputeConsuming(Tensor hessian, double dampingPercent, int maxAttempts, string tensorName, List<string> notes)
    {
        using var scope = NewDisposeScope();
        // Every view (diagonal()) holds its matrix's storage: a view left in a scope keeps an n×n matrix alive after its
        // Dispose, until the scope ends. So each view lives in a scope of its own. (Left in this method's scope, the
        // views kept H, J·H·J and L̃⁻¹ alive to the end: a 14B model's GPTQ peaked at 7 n×n copies, not 3.)
        double meanDiagonal;
        using (NewDisposeScope())
            meanDiagonal = hessian.diagonal().abs().mean().item<double>();
        // U without forming H⁻¹: with J the reversal, J·H·J = L̃L̃ᵀ gives H = RRᵀ, R = J·L̃·J upper, so H⁻¹ = R⁻ᵀR⁻¹ and
        // U = R⁻¹ = J·L̃⁻¹·J. One Cholesky and one triangular solve, against chol → cholesky_inverse → chol, which is
        // several times slower in libtorch on the CPU (cholesky_inverse dominates) and factors the explicit inverse.
        // At most three n×n float64 matrices are alive at once (n = 14,336, a 14B model's feed-forward width, makes
        // each 1.6 GB): J·H·J and L̃ while factoring, L̃ and its inverse while solving, the inverse and U at the end.
        Tensor reversed = hessian.flip(0, 1); // J·H·J, damped in place below (the reversal maps the diagonal onto itself)
        hessian.Dispose();
        double percent = dampingPercent, applied = 0;
        for (int attempt = 0; attempt < maxAttempts; attempt++, percent *= 10)
        {
            using var attemptScope = NewDisposeScope();
            double damping = percent * meanDiagonal;
            using (var raise = (damping - applied).ToScalar())
            using (NewDisposeScope())
                reversed.diagonal().add_(raise, One);
            applied = damping;
            (Tensor reversedLower, Tensor info) = linalg.cholesky_ex(reversed);
            if (info.item<int>() != 0)
                continue;
            reversed.Dispose();
            Tensor inverse = InvertLower(reversedLower);
            bool usable;
            using (NewDisposeScope())
                usable = AllFinite(inverse) && inverse.diagonal().gt(Zero).all().item<bool>();
            if (!usable)
            {
                reversed = reversedLower.matmul(reversedLower.t()).MoveToOuterDisposeScope(); // J·H·J as damped so far, for the next attempt
                continue;
            }
            reversedLower.Dispose();
            Tensor upper = inverse.flip(0, 1);
            inverse.Dispose();
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

    /// <summary>
    /// L⁻¹ for lower-triangular <paramref name="lower"/>, solved against <see cref="SolveBlock"/> columns of the identity
    /// at a time, so that no n×n identity is made (one n×n matrix less than a single solve against <c>eye(n)</c>).
    /// </summary>
    internal static Tensor InvertLower(Tensor lower)
    {
        using var scope = NewDisposeScope();
        long n = lower.shape[0];
        Tensor inverse = zeros(n, n, dtype: lower.dtype);
        for (long start = 0; start < n; start += SolveBlock)
        {
            using var blockScope = NewDisposeScope();
            long width = Math.Min(SolveBlock, n - start);
            Tensor columns = zeros(n, width, dtype: lower.dtype);
            columns.narrow(0, start, width).diagonal().fill_(One);
            inverse.narrow(1, start, width).copy_(linalg.solve_triangular(lower, columns, upper: false));
        }
        return inverse.MoveToOuterDisposeScope();
    }
}
