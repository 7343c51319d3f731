using System.Reflection;
using TorchSharp;

namespace RwkvQuant.Tests.Native;

/// <summary>
/// Finds, in compiled IL, the calls that make a TorchSharp <see cref="TorchSharp.Scalar"/> that only its finalizer frees: a call
/// to <c>Scalar.op_Implicit</c> (a C# number converted implicitly), or a call to a TorchSharp method that makes one
/// inside (<c>a + b</c> is <c>a.add(b, 1)</c>, <c>x.square()</c> is <c>x.pow(2)</c>), found by following TorchSharp's
/// own statically bound calls. Virtual calls are followed to the method named in the IL only.
/// </summary>
internal sealed class ImplicitScalarScanner
{
    private static readonly Assembly TorchSharpAssembly = typeof(torch).Assembly;

    private readonly Dictionary<MethodBase, bool> _makesScalar = [];

    /// <summary>"Caller → callee" for every offending call in <paramref name="assembly"/>'s methods and constructors.</summary>
    public IReadOnlyList<string> Scan(Assembly assembly)
    {
        var found = new List<string>();
        foreach (Type type in assembly.GetTypes())
        {
            foreach (MethodBase method in IlInstructions.DeclaredMethods(type))
            {
                foreach (MethodBase callee in Callees(method))
                {
                    if (MakesScalar(callee))
                        found.Add($"{type.FullName}.{method.Name} → {Describe(callee)}");
                }
            }
        }
        return found;
    }

    private bool MakesScalar(MethodBase method)
    {
        if (method.DeclaringType == typeof(TorchSharp.Scalar) && method.Name == "op_Implicit")
            return true;
        if (method.Module.Assembly != TorchSharpAssembly)
            return false;
        if (_makesScalar.TryGetValue(method, out bool known))
            return known;
        _makesScalar[method] = false; // cycles: assume not while the method is being looked at
        bool makes = Callees(method).Any(MakesScalar);
        _makesScalar[method] = makes;
        return makes;
    }

    private static string Describe(MethodBase method) =>
        $"{method.DeclaringType?.Name}.{method.Name}({string.Join(", ", method.GetParameters().Select(p => p.ParameterType.Name))})";

    /// <summary>The methods <paramref name="method"/>'s IL calls (call, callvirt, newobj, ldftn: every method token).</summary>
    private static IEnumerable<MethodBase> Callees(MethodBase method) =>
        IlInstructions.Of(method).Where(i => i.Method is not null).Select(i => i.Method!);
}
