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
        Assert.Contains(found, f => f.Contains(".BeforeParams: Tensor.index_select(Int64, Tensor) → Tensor.reshape(Int64[])", StringComparison.Ordinal));
        Assert.Contains(found, f => f.Contains(".ToOwnHelper: Tensor.neg() → Offenders.Doubled(Tensor)", StringComparison.Ordinal));
        Assert.DoesNotContain(found, f => f.Contains(".Kept:", StringComparison.Ordinal));
        Assert.DoesNotContain(found, f => f.Contains(".Scoped:", StringComparison.Ordinal));
        Assert.DoesNotContain(found, f => f.Contains(".CalledInScope:", StringComparison.Ordinal));
        Assert.DoesNotContain(found, f => f.Contains(".Held:", StringComparison.Ordinal));
        Assert.Contains(found, f => f.Contains(".Abandoned: local 0 = Tensor.neg(), never disposed or kept; last handed to Tensor.add(Tensor", StringComparison.Ordinal));
        Assert.Contains(found, f => f.Contains(".Reassigned: local 0 = Tensor.neg(), never disposed or kept; last handed to Tensor.exp()", StringComparison.Ordinal));
        Assert.DoesNotContain(found, f => f.Contains(".Returned:", StringComparison.Ordinal));
        Assert.DoesNotContain(found, f => f.Contains(".Disposed:", StringComparison.Ordinal));
        Assert.Contains(found, f => f.Contains(".DetachedInScope: Offenders.Loaded(Tensor) → Tensor.neg()", StringComparison.Ordinal));
        Assert.Contains(found, f => f.Contains(".DetachedThroughHelper: Offenders.LoadedEither(Tensor, Boolean) → Tensor.exp()", StringComparison.Ordinal));
        Assert.Contains(found, f => f.Contains(".DetachedLocal: local 1 = Offenders.Loaded(Tensor), never disposed or kept; last handed to Tensor.neg()", StringComparison.Ordinal));
        Assert.DoesNotContain(found, f => f.Contains(".DetachedHeld:", StringComparison.Ordinal));
        Assert.DoesNotContain(found, f => f.Contains(".ScopedHelperInScope:", StringComparison.Ordinal));
        Assert.Equal(11, found.Length);
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

        public static Tensor Abandoned(Tensor x, Tensor y)
        {
            Tensor negated = x.neg();
            return negated.add(y, One);
        }

        public static Tensor Reassigned(Tensor x)
        {
            Tensor t = x.neg();
            t = t.exp(); // the negation is abandoned; the exponential is returned
            return t;
        }

        public static Tensor Returned(Tensor x)
        {
            Tensor t = x.neg();
            t.add_(x, One);
            return t;
        }

        public static Tensor Disposed(Tensor x, Tensor y)
        {
            Tensor negated = x.neg();
            Tensor sum = negated.add(y, One);
            negated.Dispose();
            return sum;
        }

        public static Tensor Outer(Tensor x)
        {
            using var scope = NewDisposeScope();
            return CalledInScope(x).MoveToOuterDisposeScope();
        }

        public static Tensor Caller(Tensor x) => CalledOutside(x);

        // A params array built after the temporary: the stack walk passes the array's dup and stelem.
        public static Tensor BeforeParams(Tensor x, Tensor index) => x.index_select(0, index).reshape(2, -1);

        // Handed to a method of the scanned code that calls TorchSharp: as dangerous as a TorchSharp call.
        public static Tensor ToOwnHelper(Tensor x) => Doubled(x.neg());

        // Handed to a method that only keeps it (no TorchSharp call): the list holds it.
        public static void Kept(Tensor x, List<Tensor> owned) => Keep(x.neg(), owned);

        private static void Keep(Tensor t, List<Tensor> owned) => owned.Add(t);

        private static Tensor Doubled(Tensor x)
        {
            using var scope = NewDisposeScope();
            return x.add(x, One).MoveToOuterDisposeScope();
        }

        private static Tensor CalledInScope(Tensor x) => x.abs().sum();

        // A scope holds only what is made while it is open: a tensor detached from every scope is as exposed inside one.
        public static Tensor DetachedInScope(Tensor x)
        {
            using var scope = NewDisposeScope();
            return Loaded(x).neg().MoveToOuterDisposeScope();
        }

        public static Tensor DetachedThroughHelper(Tensor x, bool flag)
        {
            using var scope = NewDisposeScope();
            return LoadedEither(x, flag).exp().MoveToOuterDisposeScope();
        }

        public static Tensor DetachedLocal(Tensor x)
        {
            using var scope = NewDisposeScope();
            Tensor loaded = Loaded(x);
            return loaded.neg().MoveToOuterDisposeScope();
        }

        public static Tensor DetachedHeld(Tensor x)
        {
            using var scope = NewDisposeScope();
            using Tensor loaded = Loaded(x);
            return loaded.neg().MoveToOuterDisposeScope();
        }

        // Doubled moves its result to the caller's scope, which holds it.
        public static Tensor ScopedHelperInScope(Tensor x)
        {
            using var scope = NewDisposeScope();
            return Doubled(x).neg().MoveToOuterDisposeScope();
        }

        private static Tensor Loaded(Tensor x) => x.clone().DetachFromDisposeScope();

        private static Tensor LoadedEither(Tensor x, bool flag) => flag ? Loaded(x) : x.abs().MoveToOuterDisposeScope();

        private static Tensor CalledOutside(Tensor x) => x.abs().sum();

        private static readonly TorchSharp.Scalar One = 1.ToScalar();
    }
}
