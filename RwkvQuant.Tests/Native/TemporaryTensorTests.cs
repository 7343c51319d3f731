using System.Reflection;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.Native;

/// <summary>
/// The library hands no temporary tensor to a call outside a dispose scope (see <see cref="TemporaryTensorScanner"/>
/// for why and how it is found); <see cref="ConcurrentFinalizationTests"/> shows what goes wrong when it does.
/// </summary>
public class TemporaryTensorTests(ITestOutputHelper output)
{
    [Fact]
    public void The_library_and_the_tool_hand_no_temporary_tensor_to_a_call_outside_a_dispose_scope()
    {
        IReadOnlyList<string> found = new TemporaryTensorScanner().Scan(
            typeof(RwkvQuant.Models.RwkvModel).Assembly, Assembly.Load("rwkvquant"));
        foreach (string f in found)
            output.WriteLine(f);
        Assert.True(found.Count == 0,
            $"{found.Count} temporaries outside a dispose scope (open one with torch.NewDisposeScope, or keep the tensor in a `using` local):\n" + string.Join("\n", found));
    }

    [Fact]
    public void The_scanner_finds_chained_and_nested_temporaries_and_trusts_scopes()
    {
        string[] found = [.. new TemporaryTensorScanner().Scan(typeof(TemporaryTensorTests).Assembly)
            .Where(f => f.StartsWith(typeof(Offenders).FullName + ".", StringComparison.Ordinal))];
        Assert.Contains(found, f => f.Contains(".Chained: Tensor.neg() → Tensor.add(Tensor", StringComparison.Ordinal));
        Assert.Contains(found, f => f.Contains(".Nested: Tensor.exp() → Tensor.mul(Tensor)", StringComparison.Ordinal));
        Assert.Contains(found, f => f.Contains(".InArray: Tensor.neg() → stelem.ref", StringComparison.Ordinal));
        Assert.Contains(found, f => f.Contains(".CalledOutside: Tensor.abs() → Tensor.sum(", StringComparison.Ordinal));
        Assert.DoesNotContain(found, f => f.Contains(".Scoped:", StringComparison.Ordinal));
        Assert.DoesNotContain(found, f => f.Contains(".CalledInScope:", StringComparison.Ordinal));
        Assert.DoesNotContain(found, f => f.Contains(".Held:", StringComparison.Ordinal));
        Assert.Equal(4, found.Length);
    }

    /// <summary>Never run: the scanner's known positives and negatives.</summary>
    private static class Offenders
    {
        public static Tensor Chained(Tensor x, Tensor y) => x.neg().add(y, One);

        public static Tensor Nested(Tensor x, Tensor y) => y.mul(x.exp());

        public static Tensor InArray(Tensor x, Tensor y) => cat(new[] { x.neg(), y }, 0);

        public static Tensor Scoped(Tensor x, Tensor y)
        {
            using var scope = NewDisposeScope();
            return x.neg().add(y, One).MoveToOuterDisposeScope();
        }

        public static Tensor Held(Tensor x, Tensor y)
        {
            using Tensor negated = x.neg();
            return negated.add(y, One);
        }

        public static Tensor Outer(Tensor x)
        {
            using var scope = NewDisposeScope();
            return CalledInScope(x).MoveToOuterDisposeScope();
        }

        public static Tensor Caller(Tensor x) => CalledOutside(x);

        private static Tensor CalledInScope(Tensor x) => x.abs().sum();

        private static Tensor CalledOutside(Tensor x) => x.abs().sum();

        private static readonly TorchSharp.Scalar One = 1.ToScalar();
    }
}
