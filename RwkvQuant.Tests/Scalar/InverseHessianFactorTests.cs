using RwkvQuant.Quantization;
using RwkvQuant.Scalar.Gptq;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.Scalar;

public class InverseHessianFactorTests
{
    [Fact]
    public void The_factor_is_gptq_py_s_upper_cholesky_of_the_damped_inverse()
    {
        using var scope = NewDisposeScope();
        Hessian hessian = ScalarTestData.CorrelatedHessian(4, 67);
        Tensor h = hessian.ToTensor();
        Tensor u = InverseHessianFactor.ComputeConsuming(h.clone(), 0.01, 1, "h", []);
        // gptq.py: H += λI; H = cholesky(H); H = cholesky_inverse(H); H = cholesky(H, upper=True)
        double meanDiagonal = h.diagonal().mean().item<double>();
        Tensor damped = h.add(eye(67, dtype: ScalarType.Float64), alpha: 0.01 * meanDiagonal);
        Tensor reference = linalg.cholesky(linalg.cholesky(damped).cholesky_inverse()).t();
        Assert.True(u.allclose(reference, rtol: 1e-9, atol: 1e-12));
        Assert.Equal(0.0, u.tril(-1).abs().max().item<double>());
        Assert.True(u.t().matmul(u).matmul(damped).allclose(eye(67, dtype: ScalarType.Float64), atol: 1e-8));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(67)]
    [InlineData(1024)]
    [InlineData(2 * 1024 + 37)]
    public void The_blockwise_inverse_of_a_lower_factor_is_the_inverse(int n)
    {
        using var scope = NewDisposeScope();
        Tensor h = ScalarTestData.CorrelatedHessian(3, n).ToTensor();
        Tensor lower = linalg.cholesky(h.add(eye(n, dtype: ScalarType.Float64), alpha: 0.01 * h.diagonal().mean().item<double>()));
        Tensor inverse = InverseHessianFactor.InvertLower(lower);
        Tensor reference = linalg.solve_triangular(lower, eye(n, dtype: ScalarType.Float64), upper: false);
        Assert.True(inverse.allclose(reference, rtol: 1e-10, atol: 1e-12));
        Assert.Equal(0.0, inverse.triu(1).abs().max().item<double>());
    }

    [Fact]
    public void The_hessian_handed_over_is_freed_and_a_raised_damping_is_noted()
    {
        using var scope = NewDisposeScope();
        // Eigenvalues 4 and −2: the Cholesky fails at 1%, 10% and 100% of mean |diag| = 1, and succeeds at 1000%.
        Tensor h = tensor(new double[] { 1, 3, 3, 1 }, [2, 2]);
        var notes = new List<string>();
        Tensor u = InverseHessianFactor.ComputeConsuming(h, 0.01, 4, "h", notes);
        Assert.True(h.IsInvalid);
        Assert.Contains("(3 raise(s))", Assert.Single(notes), StringComparison.Ordinal);
        Tensor damped = tensor(new double[] { 11, 3, 3, 11 }, [2, 2]);
        Assert.True(u.t().matmul(u).matmul(damped).allclose(eye(2, dtype: ScalarType.Float64), atol: 1e-12));
    }
}
