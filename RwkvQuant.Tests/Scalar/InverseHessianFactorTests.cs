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
        Tensor u = InverseHessianFactor.Compute(h, 0.01, 1, "h", []);
        // gptq.py: H += λI; H = cholesky(H); H = cholesky_inverse(H); H = cholesky(H, upper=True)
        double meanDiagonal = h.diagonal().mean().item<double>();
        Tensor damped = h.add(eye(67, dtype: ScalarType.Float64), alpha: 0.01 * meanDiagonal);
        Tensor reference = linalg.cholesky(linalg.cholesky(damped).cholesky_inverse()).t();
        Assert.True(u.allclose(reference, rtol: 1e-9, atol: 1e-12));
        Assert.Equal(0.0, u.tril(-1).abs().max().item<double>());
        Assert.True(u.t().matmul(u).matmul(damped).allclose(eye(67, dtype: ScalarType.Float64), atol: 1e-8));
    }
}
