using System.Reflection;
using System.Reflection.Emit;
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
    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    private static readonly Assembly TorchSharpAssembly = typeof(torch).Assembly;

    private readonly Dictionary<MethodBase, bool> _makesScalar = [];

    /// <summary>"Caller → callee" for every offending call in <paramref name="assembly"/>'s methods and constructors.</summary>
    public IReadOnlyList<string> Scan(Assembly assembly)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance |
                                 BindingFlags.Static | BindingFlags.DeclaredOnly;
        var found = new List<string>();
        foreach (Type type in assembly.GetTypes())
        {
            foreach (MethodBase method in type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all)))
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
    private static IEnumerable<MethodBase> Callees(MethodBase method)
    {
        byte[]? il;
        try
        {
            il = method.GetMethodBody()?.GetILAsByteArray();
        }
        catch (Exception e) when (e is InvalidOperationException or NotSupportedException or BadImageFormatException)
        {
            yield break;
        }
        if (il is null)
            yield break;
        Type[]? typeArguments = method.DeclaringType is { IsGenericType: true } t ? t.GetGenericArguments() : null;
        Type[]? methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        int i = 0;
        while (i < il.Length)
        {
            short value = il[i] == 0xFE ? (short)(0xFE00 | il[i + 1]) : il[i];
            i += il[i] == 0xFE ? 2 : 1;
            OpCode op = OpCodesByValue[value];
            switch (op.OperandType)
            {
                case OperandType.InlineMethod:
                    MethodBase? callee = Resolve(method.Module, BitConverter.ToInt32(il, i), typeArguments, methodArguments);
                    if (callee is not null)
                        yield return callee;
                    i += 4;
                    break;
                case OperandType.InlineNone:
                    break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    i += 1;
                    break;
                case OperandType.InlineVar:
                    i += 2;
                    break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    i += 8;
                    break;
                case OperandType.InlineSwitch:
                    i += 4 + 4 * BitConverter.ToInt32(il, i);
                    break;
                default:
                    i += 4;
                    break;
            }
        }
    }

    private static MethodBase? Resolve(Module module, int token, Type[]? typeArguments, Type[]? methodArguments)
    {
        try
        {
            return module.ResolveMethod(token, typeArguments, methodArguments);
        }
        catch (Exception e) when (e is ArgumentException or MissingMethodException or TypeLoadException or FileNotFoundException)
        {
            return null; // a method of an assembly that is not there (an optional dependency) cannot make a Scalar
        }
    }
}
