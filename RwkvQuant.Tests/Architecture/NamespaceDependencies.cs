using System.Collections.Immutable;
using System.Reflection;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace RwkvQuant.Tests.Architecture;

/// <summary>
/// Which namespaces of an assembly use which others, read from its metadata: base types and interfaces, field types,
/// method signatures, and every type, method and field token in the method bodies' IL. Only namespaces of the assembly
/// itself count; compiler-generated types count for the namespace of the type that declares them.
/// </summary>
internal sealed class NamespaceDependencies
{
    private static readonly Dictionary<short, OperandType> OperandTypes = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value, o => o.OperandType);

    private readonly Dictionary<string, HashSet<string>> _uses = new(StringComparer.Ordinal);

    private NamespaceDependencies()
    {
    }

    /// <summary>Namespace → the other namespaces of the assembly it uses.</summary>
    public IReadOnlyDictionary<string, HashSet<string>> Uses => _uses;

    /// <summary>Reads <paramref name="assemblyPath"/>.</summary>
    public static NamespaceDependencies Read(string assemblyPath)
    {
        var result = new NamespaceDependencies();
        using var stream = File.OpenRead(assemblyPath);
        using var pe = new PEReader(stream);
        MetadataReader reader = pe.GetMetadataReader();
        var own = new HashSet<string>(reader.TypeDefinitions.Select(t => NamespaceOf(reader, t)).Where(n => n.Length > 0), StringComparer.Ordinal);
        var provider = new NamespaceCollector(reader);
        foreach (TypeDefinitionHandle handle in reader.TypeDefinitions)
        {
            TypeDefinition type = reader.GetTypeDefinition(handle);
            string from = NamespaceOf(reader, handle);
            if (from.Length == 0)
                continue;
            var used = new HashSet<string>(StringComparer.Ordinal);
            if (!type.BaseType.IsNil)
                used.UnionWith(provider.Of(type.BaseType));
            foreach (InterfaceImplementationHandle i in type.GetInterfaceImplementations())
                used.UnionWith(provider.Of(reader.GetInterfaceImplementation(i).Interface));
            foreach (FieldDefinitionHandle f in type.GetFields())
                used.UnionWith(reader.GetFieldDefinition(f).DecodeSignature(provider, null));
            foreach (MethodDefinitionHandle m in type.GetMethods())
            {
                MethodDefinition method = reader.GetMethodDefinition(m);
                MethodSignature<IReadOnlySet<string>> signature = method.DecodeSignature(provider, null);
                used.UnionWith(signature.ReturnType);
                foreach (IReadOnlySet<string> parameter in signature.ParameterTypes)
                    used.UnionWith(parameter);
                if (method.RelativeVirtualAddress != 0)
                    used.UnionWith(BodyUses(pe.GetMethodBody(method.RelativeVirtualAddress), provider));
            }
            used.IntersectWith(own);
            used.Remove(from);
            if (!result._uses.TryGetValue(from, out HashSet<string>? set))
                result._uses[from] = set = new HashSet<string>(StringComparer.Ordinal);
            set.UnionWith(used);
        }
        return result;
    }

    /// <summary>The namespaces that take part in a cycle, grouped by strongly connected component (each sorted).</summary>
    public IReadOnlyList<string> Cycles()
    {
        // Tarjan's strongly connected components.
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var low = new Dictionary<string, int>(StringComparer.Ordinal);
        var stack = new Stack<string>();
        var onStack = new HashSet<string>(StringComparer.Ordinal);
        var components = new List<string>();
        int next = 0;
        void Visit(string v)
        {
            index[v] = low[v] = next++;
            stack.Push(v);
            onStack.Add(v);
            foreach (string w in _uses.GetValueOrDefault(v) ?? [])
            {
                if (!index.TryGetValue(w, out int wIndex))
                {
                    Visit(w);
                    low[v] = Math.Min(low[v], low[w]);
                }
                else if (onStack.Contains(w))
                {
                    low[v] = Math.Min(low[v], wIndex);
                }
            }
            if (low[v] != index[v])
                return;
            var component = new List<string>();
            string x;
            do
            {
                x = stack.Pop();
                onStack.Remove(x);
                component.Add(x);
            }
            while (x != v);
            if (component.Count > 1)
                components.Add(string.Join(" <-> ", component.Order(StringComparer.Ordinal)));
        }
        foreach (string v in _uses.Keys.Order(StringComparer.Ordinal))
        {
            if (!index.ContainsKey(v))
                Visit(v);
        }
        return [.. components.Order(StringComparer.Ordinal)];
    }

    private static IEnumerable<string> BodyUses(MethodBodyBlock body, NamespaceCollector provider)
    {
        BlobReader il = body.GetILReader();
        while (il.RemainingBytes > 0)
        {
            short value = il.ReadByte();
            if (value == 0xFE)
                value = unchecked((short)(0xFE00 | il.ReadByte()));
            switch (OperandTypes[value])
            {
                case OperandType.InlineField or OperandType.InlineMethod or OperandType.InlineTok or OperandType.InlineType:
                    foreach (string n in provider.Of(MetadataTokens.EntityHandle(il.ReadInt32())))
                        yield return n;
                    break;
                case OperandType.InlineNone: break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar: il.Offset += 1; break;
                case OperandType.InlineVar: il.Offset += 2; break;
                case OperandType.InlineI8 or OperandType.InlineR: il.Offset += 8; break;
                case OperandType.InlineSwitch:
                {
                    int targets = il.ReadInt32(); // read first: `Offset += 4 * ReadInt32()` would take Offset before the read
                    il.Offset += 4 * targets;
                    break;
                }
                default: il.Offset += 4; break; // InlineBrTarget, InlineI, InlineSig, InlineString, ShortInlineR
            }
        }
    }

    private static string NamespaceOf(MetadataReader reader, TypeDefinitionHandle handle)
    {
        TypeDefinition type = reader.GetTypeDefinition(handle);
        while (type.IsNested)
            type = reader.GetTypeDefinition(type.GetDeclaringType());
        return reader.GetString(type.Namespace);
    }

    /// <summary>Decodes signatures and resolves tokens to the set of namespaces they mention.</summary>
    private sealed class NamespaceCollector(MetadataReader reader) : ISignatureTypeProvider<IReadOnlySet<string>, object?>
    {
        private static readonly IReadOnlySet<string> None = ImmutableHashSet<string>.Empty;

        public IReadOnlySet<string> Of(EntityHandle handle) => handle.Kind switch
        {
            HandleKind.TypeDefinition => GetTypeFromDefinition(reader, (TypeDefinitionHandle)handle, 0),
            HandleKind.TypeReference => GetTypeFromReference(reader, (TypeReferenceHandle)handle, 0),
            HandleKind.TypeSpecification => reader.GetTypeSpecification((TypeSpecificationHandle)handle).DecodeSignature(this, null),
            HandleKind.MethodDefinition => GetTypeFromDefinition(reader, reader.GetMethodDefinition((MethodDefinitionHandle)handle).GetDeclaringType(), 0),
            HandleKind.FieldDefinition => GetTypeFromDefinition(reader, reader.GetFieldDefinition((FieldDefinitionHandle)handle).GetDeclaringType(), 0),
            HandleKind.MemberReference => Of(reader.GetMemberReference((MemberReferenceHandle)handle).Parent),
            HandleKind.MethodSpecification => Union(Of(reader.GetMethodSpecification((MethodSpecificationHandle)handle).Method),
                [.. reader.GetMethodSpecification((MethodSpecificationHandle)handle).DecodeSignature(this, null)]),
            _ => None,
        };

        public IReadOnlySet<string> GetTypeFromDefinition(MetadataReader r, TypeDefinitionHandle handle, byte rawTypeKind) =>
            new HashSet<string>([NamespaceOf(r, handle)], StringComparer.Ordinal);

        public IReadOnlySet<string> GetTypeFromReference(MetadataReader r, TypeReferenceHandle handle, byte rawTypeKind)
        {
            TypeReference type = r.GetTypeReference(handle);
            while (type.ResolutionScope.Kind == HandleKind.TypeReference)
                type = r.GetTypeReference((TypeReferenceHandle)type.ResolutionScope);
            return new HashSet<string>([r.GetString(type.Namespace)], StringComparer.Ordinal);
        }

        public IReadOnlySet<string> GetTypeFromSpecification(MetadataReader r, object? context, TypeSpecificationHandle handle, byte rawTypeKind) =>
            r.GetTypeSpecification(handle).DecodeSignature(this, context);

        public IReadOnlySet<string> GetPrimitiveType(PrimitiveTypeCode typeCode) => None;
        public IReadOnlySet<string> GetSZArrayType(IReadOnlySet<string> elementType) => elementType;
        public IReadOnlySet<string> GetArrayType(IReadOnlySet<string> elementType, ArrayShape shape) => elementType;
        public IReadOnlySet<string> GetByReferenceType(IReadOnlySet<string> elementType) => elementType;
        public IReadOnlySet<string> GetPointerType(IReadOnlySet<string> elementType) => elementType;
        public IReadOnlySet<string> GetPinnedType(IReadOnlySet<string> elementType) => elementType;
        public IReadOnlySet<string> GetGenericInstantiation(IReadOnlySet<string> genericType, ImmutableArray<IReadOnlySet<string>> typeArguments) =>
            Union(genericType, [.. typeArguments]);
        public IReadOnlySet<string> GetGenericMethodParameter(object? context, int index) => None;
        public IReadOnlySet<string> GetGenericTypeParameter(object? context, int index) => None;
        public IReadOnlySet<string> GetModifiedType(IReadOnlySet<string> modifier, IReadOnlySet<string> unmodifiedType, bool isRequired) => unmodifiedType;
        public IReadOnlySet<string> GetFunctionPointerType(MethodSignature<IReadOnlySet<string>> signature) =>
            Union(signature.ReturnType, [.. signature.ParameterTypes]);

        private static HashSet<string> Union(IReadOnlySet<string> first, IReadOnlySet<string>[] rest)
        {
            var all = new HashSet<string>(first, StringComparer.Ordinal);
            foreach (IReadOnlySet<string> set in rest)
                all.UnionWith(set);
            return all;
        }
    }
}
