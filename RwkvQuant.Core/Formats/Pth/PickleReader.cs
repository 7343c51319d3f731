using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace RwkvQuant.Formats.Pth;

/// <summary>
/// Reads the subset of Python's pickle format (protocols 2 to 5) that PyTorch uses for state dicts:
/// containers, numbers, strings, the memo, GLOBAL/STACK_GLOBAL of an allow-list (OrderedDict, the tensor and parameter
/// rebuild functions, typed storages), REDUCE/NEWOBJ of those, BUILD of a dict's attributes, and BINPERSID storages.
/// Anything else is rejected with the opcode and its offset; nothing from the file is ever executed.
/// Tuples are <c>object?[]</c>, lists <c>List&lt;object?&gt;</c>, ints <c>long</c> (64-bit at most), floats <c>double</c>.
/// </summary>
internal sealed class PickleReader
{
    /// <summary>
    /// Most values the stack may hold: a state dict's pickle needs a few thousand (SETITEMS batches of 1,000 pairs), while
    /// a pickle of millions of pushes, each a byte that recalls one memoized value, would otherwise grow it without limit.
    /// </summary>
    internal const int MaxStackDepth = 1 << 16;

    private const int MaxLineBytes = 256;

    /// <summary>
    /// Pickle bytes per container the pickle may build (plus <see cref="FreeContainers"/>): a state dict's pickle builds
    /// about one tuple, list, dict or call result per 25 bytes, while one-byte EMPTY_DICT opcodes appended to a list would
    /// otherwise build a ~100-byte object per byte of the file.
    /// </summary>
    internal const int BytesPerContainer = 8;

    private const int FreeContainers = 4096;

    private static readonly object Mark = new();

    private static readonly Dictionary<string, TensorDataType> StorageTypes = new(StringComparer.Ordinal)
    {
        ["FloatStorage"] = TensorDataType.F32,
        ["HalfStorage"] = TensorDataType.F16,
        ["BFloat16Storage"] = TensorDataType.BF16,
        ["DoubleStorage"] = TensorDataType.F64,
        ["LongStorage"] = TensorDataType.I64,
        ["IntStorage"] = TensorDataType.I32,
        ["ShortStorage"] = TensorDataType.I16,
        ["CharStorage"] = TensorDataType.I8,
        ["ByteStorage"] = TensorDataType.U8,
        ["BoolStorage"] = TensorDataType.Bool,
    };

    private readonly byte[] _data;
    private readonly string _path;
    private readonly List<object?> _stack = [];
    private readonly Dictionary<long, object?> _memo = [];
    private int _position;
    private int _opcodeOffset;
    private long _containers;

    private PickleReader(byte[] data, string path)
    {
        _data = data;
        _path = path;
    }

    /// <summary>Unpickles <paramref name="data"/>; <paramref name="path"/> names the file in errors.</summary>
    /// <exception cref="InvalidDataException">Malformed data or an unsupported opcode or global.</exception>
    public static object? Load(byte[] data, string path) => new PickleReader(data, path).Run();

    private object? Run()
    {
        while (true)
        {
            _opcodeOffset = _position;
            byte opcode = ReadByte();
            switch (opcode)
            {
                case 0x80: // PROTO
                    byte protocol = ReadByte();
                    if (protocol > 5)
                        throw Error($"pickle protocol {protocol} is not supported");
                    break;
                case 0x95: // FRAME: an 8-byte length hint; frames are transparent here
                    Take(8);
                    break;
                case (byte)'.': // STOP
                    if (_stack.Count != 1)
                        throw Error($"STOP with {_stack.Count} values on the stack");
                    return Pop();
                case (byte)'(': Push(Mark); break; // MARK
                case (byte)'N': Push(null); break; // NONE
                case 0x88: Push(true); break;      // NEWTRUE
                case 0x89: Push(false); break;     // NEWFALSE
                case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break;  // BININT
                case (byte)'K': Push((long)ReadByte()); break;                                       // BININT1
                case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break; // BININT2
                case 0x8a: Push(ReadLong1()); break;                                                 // LONG1
                case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break;          // BINFLOAT
                case (byte)'X': Push(ReadUtf8(ReadLength4())); break;                                // BINUNICODE
                case 0x8c: Push(ReadUtf8(ReadByte())); break;                                        // SHORT_BINUNICODE
                case (byte)'T': Push(Encoding.Latin1.GetString(Take(ReadLength4()))); break;         // BINSTRING
                case (byte)'U': Push(Encoding.Latin1.GetString(Take(ReadByte()))); break;            // SHORT_BINSTRING
                case (byte)'B': Push(Take(ReadLength4()).ToArray()); break;                          // BINBYTES
                case (byte)'C': Push(Take(ReadByte()).ToArray()); break;                             // SHORT_BINBYTES
                case (byte)'}': Push(Built(new PickleDict())); break;     // EMPTY_DICT
                case (byte)']': Push(Built(new List<object?>())); break;  // EMPTY_LIST
                case (byte)')': Push(Array.Empty<object?>()); break; // EMPTY_TUPLE
                case (byte)'t': Push(Built(PopToMark().ToArray())); break;  // TUPLE
                case 0x85: Push(Built(new[] { Pop() })); break;             // TUPLE1
                case 0x86: { object? b = Pop(), a = Pop(); Push(Built(new[] { a, b })); break; }             // TUPLE2
                case 0x87: { object? c = Pop(), b = Pop(), a = Pop(); Push(Built(new[] { a, b, c })); break; } // TUPLE3
                case (byte)'s': // SETITEM
                {
                    object? value = Pop(), key = Pop();
                    AsDict(Peek(), "SETITEM").Set(Key(key), value);
                    break;
                }
                case (byte)'u': // SETITEMS
                {
                    List<object?> items = PopToMark();
                    if (items.Count % 2 != 0)
                        throw Error("SETITEMS with an odd number of values");
                    PickleDict dict = AsDict(Peek(), "SETITEMS");
                    for (int i = 0; i < items.Count; i += 2)
                        dict.Set(Key(items[i]), items[i + 1]);
                    break;
                }
                case (byte)'a': // APPEND
                {
                    object? value = Pop();
                    AsList(Peek(), "APPEND").Add(value);
                    break;
                }
                case (byte)'e': // APPENDS
                {
                    List<object?> items = PopToMark();
                    AsList(Peek(), "APPENDS").AddRange(items);
                    break;
                }
                case (byte)'q': _memo[ReadByte()] = Peek(); break;        // BINPUT
                case (byte)'r': _memo[ReadLength4()] = Peek(); break;     // LONG_BINPUT
                case 0x94: _memo[_memo.Count] = Peek(); break;            // MEMOIZE
                case (byte)'h': Push(Recall(ReadByte())); break;          // BINGET
                case (byte)'j': Push(Recall(ReadLength4())); break;       // LONG_BINGET
                case (byte)'c': Push(Global(ReadLine(), ReadLine())); break; // GLOBAL
                case 0x93: // STACK_GLOBAL
                {
                    object? name = Pop(), module = Pop();
                    if (module is not string m || name is not string n)
                        throw Error("STACK_GLOBAL needs two strings");
                    Push(Global(m, n));
                    break;
                }
                case (byte)'Q': Push(PersistentLoad(Pop())); break; // BINPERSID
                case (byte)'R': // REDUCE
                case 0x81:      // NEWOBJ
                {
                    object? arguments = Pop(), callable = Pop();
                    if (callable is not PickleGlobal global || arguments is not object?[] tuple)
                        throw Error($"{(opcode == 0x81 ? "NEWOBJ" : "REDUCE")} needs a global and an argument tuple");
                    Push(Built(Call(global, tuple)));
                    break;
                }
                case (byte)'b': // BUILD: torch sets attributes (e.g. _metadata) on the OrderedDict; they carry no tensors
                {
                    object? state = Pop();
                    if (Peek() is not PickleDict || state is not (PickleDict or null))
                        throw Error("BUILD is only supported for a dict's attributes");
                    break;
                }
                default:
                    throw Error($"unsupported pickle opcode 0x{opcode:x2}");
            }
        }
    }

    private PickleGlobal Global(string module, string name)
    {
        bool allowed = (module, name) switch
        {
            ("collections", "OrderedDict") => true,
            ("torch._utils", "_rebuild_tensor_v2") => true,
            ("torch._utils", "_rebuild_parameter") => true,
            ("torch", _) => StorageTypes.ContainsKey(name),
            _ => false,
        };
        if (!allowed)
            throw Error($"pickle global '{module}.{name}' is not allowed in a state dict");
        return new PickleGlobal(module, name);
    }

    private object Call(PickleGlobal global, object?[] arguments)
    {
        switch (global.Module, global.Name)
        {
            case ("collections", "OrderedDict"):
                if (arguments.Length != 0)
                    throw Error("OrderedDict with arguments is not supported");
                return new PickleDict();
            case ("torch._utils", "_rebuild_parameter"):
                // (tensor, requires_grad, backward_hooks)
                if (arguments.Length is < 1 or > 3 || arguments[0] is not PickleTensor parameter)
                    throw Error("_rebuild_parameter needs a tensor");
                return parameter;
            case ("torch._utils", "_rebuild_tensor_v2"):
                // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
                if (arguments.Length is < 4 or > 7 || arguments[0] is not PickleStorage storage || arguments[1] is not long offset)
                    throw Error("_rebuild_tensor_v2 needs (storage, offset, size, stride, …)");
                long[] shape = Integers(arguments[2], "size");
                long[] stride = Integers(arguments[3], "stride");
                if (shape.Length != stride.Length)
                    throw Error($"tensor size has {shape.Length} dimensions but stride has {stride.Length}");
                return new PickleTensor(storage, offset, shape, stride);
            default:
                throw Error($"calling '{global}' is not supported");
        }
    }

    private PickleStorage PersistentLoad(object? id)
    {
        // ('storage', torch.FloatStorage, key, location, numel)
        if (id is not object?[] { Length: 5 } tuple || tuple[0] is not "storage" || tuple[1] is not PickleGlobal { Module: "torch" } type
            || tuple[2] is not string key || tuple[4] is not long count || count < 0)
            throw Error("persistent id is not ('storage', type, key, location, numel)");
        if (!StorageTypes.TryGetValue(type.Name, out TensorDataType dataType))
            throw Error($"unsupported storage type '{type}'");
        return new PickleStorage(dataType, key, count);
    }

    private long[] Integers(object? value, string what)
    {
        if (value is not object?[] tuple)
            throw Error($"tensor {what} is not a tuple");
        var result = new long[tuple.Length];
        for (int i = 0; i < tuple.Length; i++)
            result[i] = tuple[i] is long v ? v : throw Error($"tensor {what} holds a non-integer");
        return result;
    }

    private object Key(object? key) => key switch
    {
        string or long or bool or double => key,
        _ => throw Error($"dict key of type {key?.GetType().Name ?? "None"} is not supported"),
    };

    private PickleDict AsDict(object? value, string opcode) => value as PickleDict ?? throw Error($"{opcode} on a {Describe(value)}, not a dict");

    private List<object?> AsList(object? value, string opcode) => value as List<object?> ?? throw Error($"{opcode} on a {Describe(value)}, not a list");

    private static string Describe(object? value) => value?.GetType().Name ?? "None";

    private object? Recall(long index) => _memo.TryGetValue(index, out object? value) ? value : throw Error($"memo entry {index} was never stored");

    /// <summary>Counts a container (tuple, list, dict or call result) against the pickle's budget, then returns it.</summary>
    private T Built<T>(T value)
    {
        long allowed = FreeContainers + (long)_data.Length / BytesPerContainer;
        if (++_containers > allowed)
            throw Error($"the pickle builds more than {allowed} containers for its {_data.Length} bytes");
        return value;
    }

    private void Push(object? value)
    {
        if (_stack.Count >= MaxStackDepth)
            throw Error($"the stack holds more than {MaxStackDepth} values");
        _stack.Add(value);
    }

    private object? Peek()
    {
        if (_stack.Count == 0 || ReferenceEquals(_stack[^1], Mark))
            throw Error("stack underflow");
        return _stack[^1];
    }

    private object? Pop()
    {
        object? value = Peek();
        _stack.RemoveAt(_stack.Count - 1);
        return value;
    }

    private List<object?> PopToMark()
    {
        int mark = _stack.FindLastIndex(v => ReferenceEquals(v, Mark));
        if (mark < 0)
            throw Error("no MARK on the stack");
        List<object?> items = _stack.GetRange(mark + 1, _stack.Count - mark - 1);
        _stack.RemoveRange(mark, _stack.Count - mark);
        return items;
    }

    private byte ReadByte() => Take(1)[0];

    private int ReadLength4()
    {
        int length = BinaryPrimitives.ReadInt32LittleEndian(Take(4));
        return length >= 0 ? length : throw Error($"negative length {length}");
    }

    private long ReadLong1()
    {
        ReadOnlySpan<byte> bytes = Take(ReadByte());
        if (bytes.Length > 8)
            throw Error($"LONG1 of {bytes.Length} bytes does not fit 64 bits");
        var value = new BigInteger(bytes, isUnsigned: false, isBigEndian: false);
        if (value < long.MinValue || value > long.MaxValue)
            throw Error("LONG1 does not fit 64 bits");
        return (long)value;
    }

    private string ReadUtf8(int length) => Encoding.UTF8.GetString(Take(length));

    private string ReadLine()
    {
        // Look no further than a name can reach, so that a run of GLOBALs without newlines costs linear time.
        int end = Array.IndexOf(_data, (byte)'\n', _position, Math.Min(MaxLineBytes + 1, _data.Length - _position));
        if (end < 0)
            throw Error("GLOBAL name is not a short newline-terminated line");
        string line = Encoding.ASCII.GetString(_data, _position, end - _position);
        _position = end + 1;
        return line;
    }

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count > _data.Length - _position)
            throw Error($"pickle data ends inside an opcode ({count} bytes needed, {_data.Length - _position} left)");
        ReadOnlySpan<byte> span = _data.AsSpan(_position, count);
        _position += count;
        return span;
    }

    private InvalidDataException Error(string message) =>
        ModelFileError.Create(_path, null, $"data.pkl offset {_opcodeOffset}: {message}.");
}
