using System.Reflection;
using System.Reflection.Emit;

namespace RwkvQuant.Tests.Native;

/// <summary>One IL instruction: where it is, what it is, the method it names (call, callvirt, newobj, ldftn) and the
/// variable index it names (ldloc, stloc, ldarg…; -1 for none).</summary>
internal readonly record struct IlInstruction(int Offset, OpCode OpCode, MethodBase? Method, int Variable = -1)
{
    /// <summary>The local this instruction loads (<c>ldloc</c>), or -1.</summary>
    public int LoadedLocal => OpCode == OpCodes.Ldloc_0 ? 0 : OpCode == OpCodes.Ldloc_1 ? 1 : OpCode == OpCodes.Ldloc_2 ? 2 : OpCode == OpCodes.Ldloc_3 ? 3
        : OpCode == OpCodes.Ldloc_S || OpCode == OpCodes.Ldloc ? Variable : -1;

    /// <summary>The local whose address this instruction takes (<c>ldloca</c>), or -1.</summary>
    public int AddressedLocal => OpCode == OpCodes.Ldloca_S || OpCode == OpCodes.Ldloca ? Variable : -1;

    /// <summary>The local this instruction stores (<c>stloc</c>), or -1.</summary>
    public int StoredLocal => OpCode == OpCodes.Stloc_0 ? 0 : OpCode == OpCodes.Stloc_1 ? 1 : OpCode == OpCodes.Stloc_2 ? 2 : OpCode == OpCodes.Stloc_3 ? 3
        : OpCode == OpCodes.Stloc_S || OpCode == OpCodes.Stloc ? Variable : -1;

    /// <summary>Whether control may leave the straight line here (a branch, switch, return, throw or leave).</summary>
    public bool EndsStraightLine => OpCode.FlowControl is FlowControl.Branch or FlowControl.Cond_Branch or FlowControl.Return or FlowControl.Throw;

    /// <summary>Values this instruction takes from the evaluation stack, or null where the IL alone does not say (calli).</summary>
    public int? Pops(MethodBase owner)
    {
        switch (OpCode.StackBehaviourPop)
        {
            case StackBehaviour.Pop0:
                return 0;
            case StackBehaviour.Pop1 or StackBehaviour.Popi or StackBehaviour.Popref:
                return 1;
            case StackBehaviour.Pop1_pop1 or StackBehaviour.Popi_pop1 or StackBehaviour.Popi_popi or StackBehaviour.Popi_popi8
                or StackBehaviour.Popi_popr4 or StackBehaviour.Popi_popr8 or StackBehaviour.Popref_pop1 or StackBehaviour.Popref_popi:
                return 2;
            case StackBehaviour.Varpop when OpCode == OpCodes.Ret:
                return owner is MethodInfo { ReturnType: var r } && r != typeof(void) ? 1 : 0;
            case StackBehaviour.Varpop when Method is not null:
                return Method.GetParameters().Length + (Method.CallingConvention.HasFlag(CallingConventions.HasThis) && OpCode != OpCodes.Newobj ? 1 : 0);
            case StackBehaviour.Varpop:
                return null;
            default:
                return 3;
        }
    }

    /// <summary>Values this instruction leaves on the evaluation stack, or null where the IL alone does not say.</summary>
    public int? Pushes() => OpCode.StackBehaviourPush switch
    {
        StackBehaviour.Push0 => 0,
        StackBehaviour.Push1_push1 => 2,
        StackBehaviour.Varpush when OpCode == OpCodes.Newobj => 1,
        StackBehaviour.Varpush when Method is MethodInfo m => m.ReturnType == typeof(void) ? 0 : 1,
        StackBehaviour.Varpush => null,
        _ => 1,
    };
}

/// <summary>Decodes a method's IL into <see cref="IlInstruction"/>s, resolving the methods it names.</summary>
internal static class IlInstructions
{
    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    /// <summary>Every method and constructor <paramref name="type"/> declares.</summary>
    public static IEnumerable<MethodBase> DeclaredMethods(Type type)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance |
                                 BindingFlags.Static | BindingFlags.DeclaredOnly;
        return type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all));
    }

    /// <summary><paramref name="method"/>'s instructions in order (none for abstract, extern or unreadable methods).</summary>
    public static IReadOnlyList<IlInstruction> Of(MethodBase method)
    {
        byte[]? il;
        try
        {
            il = method.GetMethodBody()?.GetILAsByteArray();
        }
        catch (Exception e) when (e is InvalidOperationException or NotSupportedException or BadImageFormatException)
        {
            return [];
        }
        if (il is null)
            return [];
        Type[]? typeArguments = method.DeclaringType is { IsGenericType: true } t ? t.GetGenericArguments() : null;
        Type[]? methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        var instructions = new List<IlInstruction>();
        int i = 0;
        while (i < il.Length)
        {
            int offset = i;
            short value = il[i] == 0xFE ? (short)(0xFE00 | il[i + 1]) : il[i];
            i += il[i] == 0xFE ? 2 : 1;
            OpCode op = OpCodesByValue[value];
            MethodBase? callee = null;
            int variable = -1;
            switch (op.OperandType)
            {
                case OperandType.InlineMethod:
                    callee = Resolve(method.Module, BitConverter.ToInt32(il, i), typeArguments, methodArguments);
                    i += 4;
                    break;
                case OperandType.InlineNone:
                    break;
                case OperandType.ShortInlineVar:
                    variable = il[i];
                    i += 1;
                    break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI:
                    i += 1;
                    break;
                case OperandType.InlineVar:
                    variable = BitConverter.ToUInt16(il, i);
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
            instructions.Add(new IlInstruction(offset, op, callee, variable));
        }
        return instructions;
    }

    private static MethodBase? Resolve(Module module, int token, Type[]? typeArguments, Type[]? methodArguments)
    {
        try
        {
            return module.ResolveMethod(token, typeArguments, methodArguments);
        }
        catch (Exception e) when (e is ArgumentException or MissingMethodException or TypeLoadException or FileNotFoundException)
        {
            return null; // a method of an assembly that is not there (an optional dependency)
        }
    }
}
