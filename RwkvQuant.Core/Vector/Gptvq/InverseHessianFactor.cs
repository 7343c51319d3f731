using System.Globalization;
using RwkvQuant.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace RwkvQuant.Vector.Gptvq;

/// <summary>
/// GPTQ's preparation of H: dead inputs (H_jj = 0) get H_jj = 1 (their weights are zeroed), damping λ = fraction ·
/// mean(diag H) is added to the diagonal, and U = the upper Cholesky factor of (H + λI)⁻¹ is returned. When a
/// factorisation fails, λ is multiplied by 10 (up to 8 times) and a note says so.
/// </summary>
internal static class InverseHessianFactor
{
    private const int MaxDampingRaises = 8;

    /// <summary>U <c>[n, n]</c> row-major (upper triangular), the dead columns, and notes on raised damping.</summary>
    /// <exception cref="InvalidOperationException">Even the most damped factorisation failed.</exception>
    public static double[] Compute(Hessian hessian, double dampingFraction, string tensorName, out bool[] dead, List<string> notes)
    {
        int n = hessian.Size;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor h = hessian.ToTensor();
        Tensor diagonal = h.diagonal();
        Tensor deadMask = diagonal.eq(0);
        dead = deadMask.data<bool>().ToArray();
        h.diagonal().masked_fill_(deadMask, 1.0);
        double damping = dampingFraction * h.diagonal().mean().item<double>();
        Tensor identity = eye(n, dtype: ScalarType.Float64);
        for (int attempt = 0; attempt <= MaxDampingRaises; attempt++)
        {
            var (lower, info) = linalg.cholesky_ex(h.add(identity.mul(damping)));
            if (info.item<int>() == 0)
            {
                Tensor inverse = cholesky_inverse(lower);
                var (lowerOfInverse, info2) = linalg.cholesky_ex(inverse);
                Tensor upper = lowerOfInverse.t(); // (H + λI)⁻¹ = L Lᵀ = Uᵀ U
                if (info2.item<int>() == 0 && isfinite(upper).all().item<bool>())
                    return upper.contiguous().data<double>().ToArray();
            }
            notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"Cholesky of H + {damping:G4}·I failed for '{tensorName}'; damping raised to {damping * 10:G4}."));
            damping *= 10;
        }
        throw new InvalidOperationException($"The Hessian of '{tensorName}' could not be factorised even with damping {damping:G4}.");
    }
}
