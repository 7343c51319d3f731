using System.Reflection;
using TorchSharp;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.Native;

/// <summary>
/// The library makes no TorchSharp Scalar that only a finalizer frees (see <c>RwkvQuant.Native.TorchScalars</c> for
/// why); <see cref="ConcurrentFinalizationTests"/> shows what goes wrong when it does.
/// </summary>
public class ImplicitScalarTests
{
    public static TheoryData<string> LibraryAssemblies => new()
    {
        typeof(RwkvQuant.Models.RwkvModel).Assembly.GetName().Name!,
        typeof(RwkvQuant.Kernels.Accelerators.KernelDevice).Assembly.GetName().Name!,
    };

    [Theory]
    [MemberData(nameof(LibraryAssemblies))]
    public void The_library_makes_no_finalizer_freed_Scalar(string assemblyName)
    {
        IReadOnlyList<string> found = new ImplicitScalarScanner().Scan(Assembly.Load(assemblyName));
        Assert.True(found.Count == 0, "Implicit Scalars (use TorchScalars or `using var s = v.ToScalar()`):\n" + string.Join("\n", found));
    }

    [Fact]
    public void The_scanner_finds_implicit_conversions_and_the_TorchSharp_methods_that_make_them()
    {
        string[] found = new ImplicitScalarScanner().Scan(typeof(ImplicitScalarTests).Assembly)
            .Where(f => f.StartsWith(typeof(Offenders).FullName + ".", StringComparison.Ordinal))
            .ToArray();
        Assert.Contains(found, f => f.Contains(".Scaled → Scalar.op_Implicit(Double)", StringComparison.Ordinal));
        Assert.Contains(found, f => f.Contains(".Sum → Tensor.op_Addition(Tensor, Tensor)", StringComparison.Ordinal));
        Assert.Contains(found, f => f.Contains(".Squared → Tensor.square()", StringComparison.Ordinal));
        Assert.Contains(found, f => f.Contains(".Halved → Tensor.op_Multiply(Tensor, Single)", StringComparison.Ordinal));
        Assert.DoesNotContain(found, f => f.Contains(".Safe →", StringComparison.Ordinal));
        Assert.Equal(4, found.Length);
    }

    /// <summary>Never run: the scanner's known positives (and one negative).</summary>
    private static class Offenders
    {
        private static readonly TorchSharp.Scalar One = 1.ToScalar();

        public static Tensor Scaled(Tensor x, double factor) => x.mul(factor);

        public static Tensor Sum(Tensor a, Tensor b) => a + b;

        public static Tensor Squared(Tensor x) => x.square();

        public static Tensor Halved(Tensor x) => x * 0.5f;

        public static Tensor Safe(Tensor a, Tensor b, double factor)
        {
            using var scalar = factor.ToScalar();
            return a.add(b, One).mul(scalar) - a;
        }
    }
}
