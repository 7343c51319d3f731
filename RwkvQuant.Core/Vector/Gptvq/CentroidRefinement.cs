using RwkvQuant.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace RwkvQuant.Vector.Gptvq;

/// <summary>
/// GPTVQ's codebook update: with the assignments fixed, Q(θ) = Aθ is linear in the centroid values θ
/// <c>[groups · 2^b · d]</c>, so f(θ) = tr((W − Aθ) H (W − Aθ)ᵀ) is a convex quadratic whose minimum solves
/// (2AᵀHA) θ = 2AᵀHW. We take a few steps of Jacobi-preconditioned conjugate gradients (preconditioner: the diagonal
/// of H summed over each entry's members) from the current θ; each step costs one <c>[rows, cols] × [cols, cols]</c>
/// product. Enough steps reach the exact least-squares solution; the result is kept only if f did not grow.
/// </summary>
internal static class CentroidRefinement
{
    /// <summary>Refines <paramref name="codebooks"/> in place; returns f before and after.</summary>
    public static (double Before, double After) Refine(float[] weight, Hessian hessian, VectorLayout layout, int[] codes,
        double[] codebooks, int iterations, List<string> notes, CancellationToken cancellationToken)
    {
        int rows = layout.Rows, columns = layout.Columns, d = layout.Dimension, length = layout.CodebookLength;
        var index = new int[(long)rows * columns]; // weight (r, c) -> its entry of θ
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < columns; c++)
            {
                int vector = c / d;
                index[(long)r * columns + c] = layout.GroupOf(r, vector * d) * length + codes[(long)r * layout.VectorsPerRow + vector] * d + c % d;
            }
        }
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor h = hessian.ToTensor(); // [cols, cols]
        Tensor w = tensor(Array.ConvertAll(weight, x => (double)x), [rows, columns], ScalarType.Float64);

        var preconditioner = new double[codebooks.Length];
        for (long i = 0; i < index.Length; i++)
        {
            int c = (int)(i % columns);
            preconditioner[index[i]] += 2 * hessian[c, c];
        }
        for (int p = 0; p < preconditioner.Length; p++)
        {
            if (!(preconditioner[p] > 0))
                preconditioner[p] = 1;
        }

        double[] start = (double[])codebooks.Clone();
        Tensor error = w.sub(Expand(codebooks, index, rows, columns)); // E = W − Q
        Tensor errorH = error.matmul(h);
        double before = errorH.mul(error).sum().item<double>();
        double[] residual = Scatter(errorH, index, codebooks.Length, 2.0); // −∇f = 2Aᵀ(E H)
        var z = new double[residual.Length];
        for (int p = 0; p < z.Length; p++)
            z[p] = residual[p] / preconditioner[p];
        double[] direction = (double[])z.Clone();
        double rz = Dot(residual, z);
        for (int k = 0; k < iterations && rz > 0; k++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var stepScope = NewDisposeScope();
            double[] curvature = Scatter(Expand(direction, index, rows, columns).matmul(h), index, codebooks.Length, 2.0); // M p
            double pMp = Dot(direction, curvature);
            if (!(pMp > 0))
                break;
            double alpha = rz / pMp;
            for (int p = 0; p < codebooks.Length; p++)
            {
                codebooks[p] += alpha * direction[p];
                residual[p] -= alpha * curvature[p];
                z[p] = residual[p] / preconditioner[p];
            }
            double rzNext = Dot(residual, z);
            double beta = rzNext / rz;
            for (int p = 0; p < direction.Length; p++)
                direction[p] = z[p] + beta * direction[p];
            rz = rzNext;
        }
        Tensor finalError = w.sub(Expand(codebooks, index, rows, columns));
        double after = finalError.matmul(h).mul(finalError).sum().item<double>();
        if (!(after <= before))
        {
            start.CopyTo(codebooks, 0);
            notes.Add($"Centroid refinement raised the weighted error ({before:G6} → {after:G6}); kept the unrefined centroids.");
            after = before;
        }
        return (before, after);
    }

    /// <summary>Q = Aθ as a <c>[rows, cols]</c> float64 tensor.</summary>
    private static Tensor Expand(double[] theta, int[] index, int rows, int columns)
    {
        var q = new double[index.Length];
        for (long i = 0; i < q.Length; i++)
            q[i] = theta[index[i]];
        return tensor(q, [rows, columns], ScalarType.Float64);
    }

    /// <summary>factor · Aᵀ m: sums a <c>[rows, cols]</c> matrix into the entries of θ.</summary>
    private static double[] Scatter(Tensor matrix, int[] index, int size, double factor)
    {
        double[] values = matrix.contiguous().data<double>().ToArray();
        var result = new double[size];
        for (long i = 0; i < values.Length; i++)
            result[index[i]] += factor * values[i];
        return result;
    }

    private static double Dot(double[] a, double[] b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
            sum += a[i] * b[i];
        return sum;
    }
}
