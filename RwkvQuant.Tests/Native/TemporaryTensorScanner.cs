using System.Reflection;
using System.Reflection.Emit;
using TorchSharp;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.Native;

/// <summary>
/// Finds, in compiled IL, TorchSharp tensors that live only on the evaluation stack while a call uses them — the
/// temporaries of chained calls (<c>x.neg().add(y)</c>, <c>f(x.exp())</c>, <c>new[] { a.neg(), b }</c>) — in code that
/// may run outside a dispose scope. Such a tensor is referenced by nothing the garbage collector sees once the callee
/// has read its handle, so a collection during the native call may run its finalizer and free it under libtorch (the
/// "Tried to access the schema for aten::expand" and THSTensor_neg crashes). Inside a dispose scope the scope holds it.
/// <para>
/// A method is <em>covered</em> when it opens a dispose scope itself (calls <c>torch.NewDisposeScope</c>), or when it
/// cannot be called from outside the scanned assemblies (not public, nor protected, nor a virtual or interface
/// implementation) and every call to it in those assemblies comes from a covered method. A delegate or lambda is covered
/// only by a scope of its own: it may run later or on another thread, and dispose scopes belong to their thread.
/// Temporaries are followed along straight-line code only (a branch before the temporary is used ends the search), so
/// the scanner can miss a temporary that crosses a conditional expression; it does not report false alarms from that.
/// </para>
/// <para>
/// A scope holds only what is made while it is open. A method of the scanned code that returns a tensor taken out of
/// every scope (<c>DetachFromDisposeScope</c>, as weight loaders do so that a network's weights outlive the caller's
/// scope) makes a tensor that no scope holds, so its temporaries and abandoned locals are hazards in covered methods
/// too (ConcurrentFinalizationTests crashed in THSTensor_to_type on <c>HeadVector(...).to(Float64)</c> inside a scope).
/// </para>
/// </summary>
internal sealed class TemporaryTensorScanner
{
    private static readonly Assembly TorchSharpAssembly = typeof(torch).Assembly;

    /// <summary>Calls that take a temporary without handing it to native code, or that keep it alive.</summary>
    private static readonly HashSet<string> HarmlessConsumers =
        ["Dispose", "MoveToOuterDisposeScope", "DetachFromDisposeScope", "MoveToOtherDisposeScope", "KeepAlive"];

    private readonly Dictionary<MethodBase, IReadOnlyList<IlInstruction>> _instructions = [];
    private readonly HashSet<Assembly> _scanned = [];
    private readonly Dictionary<MethodBase, bool> _usesTorch = [];
    private readonly Dictionary<MethodBase, bool> _detaches = [];

    /// <summary>
    /// "Type.Method: producer → consumer" for every temporary tensor used by a call in an uncovered method of
    /// <paramref name="assemblies"/>, which are scanned together (calls between them count for coverage).
    /// </summary>
    public IReadOnlyList<string> Scan(params Assembly[] assemblies)
    {
        _scanned.UnionWith(assemblies);
        List<MethodBase> methods = [.. assemblies.SelectMany(a => a.GetTypes()).SelectMany(IlInstructions.DeclaredMethods)];
        foreach (MethodBase method in methods)
            _instructions[method] = IlInstructions.Of(method);

        var callers = new Dictionary<MethodBase, List<MethodBase>>();
        foreach (MethodBase method in methods)
        {
            foreach (IlInstruction instruction in _instructions[method])
            {
                if (instruction.Method is { } callee && instruction.OpCode != OpCodes.Ldftn && instruction.OpCode != OpCodes.Ldvirtftn
                    && _scanned.Contains(callee.Module.Assembly))
                {
                    MethodBase key = Definition(callee);
                    if (!callers.TryGetValue(key, out List<MethodBase>? list))
                        callers[key] = list = [];
                    list.Add(method);
                }
            }
        }

        var covered = methods.Where(OpensScope).ToHashSet();
        bool grew = true;
        while (grew)
        {
            grew = false;
            foreach (MethodBase method in methods)
            {
                if (covered.Contains(method) || Reachable(method) || !callers.TryGetValue(method, out List<MethodBase>? list))
                    continue;
                if (list.All(covered.Contains))
                {
                    covered.Add(method);
                    grew = true;
                }
            }
        }

        var found = new List<string>();
        foreach (MethodBase method in methods)
        {
            // Outside a scope every tensor a call makes is at risk; inside one, only those that no scope holds.
            Func<IlInstruction, bool> producer = covered.Contains(method) ? MakesUnscopedTensor : MakesTensor;
            found.AddRange(Temporaries(method, producer).Select(t => $"{method.DeclaringType?.FullName}.{method.Name}: {t}"));
            found.AddRange(AbandonedLocals(method, producer).Select(t => $"{method.DeclaringType?.FullName}.{method.Name}: {t}"));
        }
        return found;
    }

    private bool OpensScope(MethodBase method) =>
        _instructions[method].Any(i => i.Method is { Name: "NewDisposeScope" } m && m.DeclaringType == typeof(torch));

    /// <summary>Whether code outside the scanned assemblies may call <paramref name="method"/>, directly (it is public or
    /// protected in a public type) or by dispatch (virtual), or whether it is a lambda's body (<c>b__</c>).</summary>
    private static bool Reachable(MethodBase method) =>
        method.DeclaringType is null || method.IsVirtual || method.Name.Contains("b__", StringComparison.Ordinal)
        || (method.DeclaringType.IsVisible && (method.IsPublic || method.IsFamily || method.IsFamilyOrAssembly));

    /// <summary>The generic definition a call site names, so that calls to instantiations count for the method.</summary>
    private static MethodBase Definition(MethodBase method) =>
        method is MethodInfo { IsGenericMethod: true } generic && !generic.IsGenericMethodDefinition ? generic.GetGenericMethodDefinition() : method;

    /// <summary>"producer → consumer" for each tensor a call returns that another call takes straight off the stack.</summary>
    private IEnumerable<string> Temporaries(MethodBase method, Func<IlInstruction, bool> producer)
    {
        IReadOnlyList<IlInstruction> code = _instructions[method];
        for (int p = 0; p < code.Count; p++)
        {
            if (!producer(code[p]))
                continue;
            int depth = 1; // the temporary's place from the top of the stack
            for (int c = p + 1; c < code.Count; c++)
            {
                IlInstruction next = code[c];
                int? pops = next.Pops(method), pushes = next.Pushes();
                if (pops is null || pushes is null || (next.OpCode == OpCodes.Dup && depth == 1))
                    break;
                if (pops >= depth)
                {
                    if (Hazard(next))
                        yield return $"{Describe(code[p].Method!)} → {(next.Method is { } m ? Describe(m) : next.OpCode.Name)}";
                    break;
                }
                depth += pushes.Value - pops.Value;
                if (next.EndsStraightLine)
                    break;
            }
        }
    }

    /// <summary>
    /// "local N = producer, never disposed or kept; last handed to consumer" for each local holding a tensor the method made whose every use hands it to
    /// a call that may use it natively: never disposed, returned, stored or kept. Optimised code ends such a local's life
    /// at its last use, so the tensor may be finalized during that native call (the same hazard as a temporary; the
    /// reason Core was compiled unoptimised in Debug until the scan found them all). A local whose address is taken, or a use the stack walk cannot
    /// follow, counts as kept (no false alarms).
    /// </summary>
    private IEnumerable<string> AbandonedLocals(MethodBase method, Func<IlInstruction, bool> producer)
    {
        IReadOnlyList<IlInstruction> code = _instructions[method];
        for (int p = 0; p + 1 < code.Count; p++)
        {
            int local = code[p + 1].StoredLocal;
            if (local < 0 || !producer(code[p]) || code.Any(i => i.AddressedLocal == local))
                continue;
            // The value's uses: the loads after the store, up to the local's next store (IL order; a loop that reads it
            // back at its top before the store counts its later uses only, which can only miss a finding).
            string? lastHazard = null;
            bool kept = false;
            for (int c = p + 2; c < code.Count && !kept && code[c].StoredLocal != local; c++)
            {
                if (code[c].LoadedLocal != local)
                    continue;
                IlInstruction? consumer = Consumer(method, code, c);
                if (consumer is { } use && Hazard(use))
                    lastHazard = use.Method is { } m ? Describe(m) : use.OpCode.Name;
                else
                    kept = true;
            }
            if (!kept && lastHazard is not null)
                yield return $"local {local} = {Describe(code[p].Method!)}, never disposed or kept; last handed to {lastHazard}";
        }
    }

    /// <summary>The instruction that takes the value pushed at <paramref name="load"/> off the stack, along straight-line code; null where the walk cannot tell.</summary>
    private static IlInstruction? Consumer(MethodBase method, IReadOnlyList<IlInstruction> code, int load)
    {
        int depth = 1;
        for (int c = load + 1; c < code.Count; c++)
        {
            IlInstruction next = code[c];
            int? pops = next.Pops(method), pushes = next.Pushes();
            if (pops is null || pushes is null || (next.OpCode == OpCodes.Dup && depth == 1))
                return null;
            if (pops >= depth)
                return next;
            depth += pushes.Value - pops.Value;
            if (next.EndsStraightLine)
                return null;
        }
        return null;
    }

    /// <summary>
    /// Whether the call makes a tensor that nothing else holds: a TorchSharp method or one of the scanned assemblies'
    /// methods returning a tensor — but not a property getter (it returns a tensor its object holds), an in-place
    /// TorchSharp method (<c>add_</c>: it returns its receiver) or a dispose-scope move (it returns its argument).
    /// </summary>
    private static bool MakesTensor(IlInstruction instruction) =>
        instruction.Method is MethodInfo m && (instruction.OpCode == OpCodes.Call || instruction.OpCode == OpCodes.Callvirt)
        && typeof(Tensor).IsAssignableFrom(m.ReturnType)
        && !(m.IsSpecialName && m.Name.StartsWith("get_", StringComparison.Ordinal)) && !m.Name.EndsWith('_') && !HarmlessConsumers.Contains(m.Name);

    /// <summary>Whether the call is to a method of the scanned code that may return a tensor outside every dispose scope
    /// (see <see cref="ReturnsDetached"/>).</summary>
    private bool MakesUnscopedTensor(IlInstruction instruction) =>
        MakesTensor(instruction) && _scanned.Contains(instruction.Method!.Module.Assembly) && ReturnsDetached(instruction.Method);

    /// <summary>
    /// Whether <paramref name="method"/> may return what <c>DetachFromDisposeScope</c>, or another such method, returned:
    /// a value of that call that goes straight to <c>ret</c>, to a branch (a conditional expression's arm, joining at the
    /// return), or to a local that a <c>ret</c> loads (debug builds return through a local). Errs towards yes.
    /// </summary>
    private bool ReturnsDetached(MethodBase method) => Memoized(_detaches, method, code =>
    {
        var returnedLocals = new HashSet<int>(code.Where((i, k) => k + 1 < code.Count && i.LoadedLocal >= 0 && code[k + 1].OpCode == OpCodes.Ret)
            .Select(i => i.LoadedLocal));
        for (int k = 0; k + 1 < code.Count; k++)
        {
            if (code[k].Method is not MethodInfo callee)
                continue;
            bool detached = callee.Name == "DetachFromDisposeScope"
                || (_scanned.Contains(callee.Module.Assembly) && typeof(Tensor).IsAssignableFrom(callee.ReturnType) && ReturnsDetached(callee));
            IlInstruction next = code[k + 1];
            if (detached && (next.OpCode == OpCodes.Ret || next.OpCode.FlowControl == FlowControl.Branch || returnedLocals.Contains(next.StoredLocal)))
                return true;
        }
        return false;
    });

    /// <summary>
    /// Whether handing a temporary to <paramref name="consumer"/> lets it die while native code may use it: any call
    /// into TorchSharp or into a method of the scanned code (which passes it on), or storing it in an array (which is
    /// then handed on, as to <c>torch.cat</c>). Not a constructor or a method of the base library (a tuple, a
    /// collection, a string builder): those keep it in an object.
    /// </summary>
    private bool Hazard(IlInstruction consumer)
    {
        if (consumer.Method is not { } m)
            return consumer.OpCode == OpCodes.Stelem_Ref || consumer.OpCode == OpCodes.Stelem;
        if (HarmlessConsumers.Contains(m.Name) || consumer.OpCode == OpCodes.Newobj || m.IsConstructor)
            return false;
        Assembly owner = m.Module.Assembly;
        return owner == TorchSharpAssembly || (_scanned.Contains(owner) && UsesTorch(m));
    }

    /// <summary>Whether <paramref name="method"/> of the scanned code calls into TorchSharp, itself or through the
    /// scanned code's other methods (a method that only keeps a tensor, like a list's <c>Add</c>, does not).</summary>
    private bool UsesTorch(MethodBase method) => Memoized(_usesTorch, method, code =>
        method.IsAbstract || code.Any(i => i.Method is { } callee && !HarmlessConsumers.Contains(callee.Name)
            && (callee.Module.Assembly == TorchSharpAssembly || (_scanned.Contains(callee.Module.Assembly) && UsesTorch(callee)))));

    /// <summary>
    /// A property of <paramref name="method"/>'s code (its generic definition's), computed once and kept in
    /// <paramref name="cache"/>; while it is being computed a recursive question about the same method answers false
    /// (cycles).
    /// </summary>
    private bool Memoized(Dictionary<MethodBase, bool> cache, MethodBase method, Func<IReadOnlyList<IlInstruction>, bool> property)
    {
        method = Definition(method);
        if (cache.TryGetValue(method, out bool known))
            return known;
        cache[method] = false;
        bool value = property(_instructions.TryGetValue(method, out var code) ? code : IlInstructions.Of(method));
        cache[method] = value;
        return value;
    }

    private static string Describe(MethodBase method) =>
        $"{method.DeclaringType?.Name}.{method.Name}({string.Join(", ", method.GetParameters().Select(p => p.ParameterType.Name))})";
}
