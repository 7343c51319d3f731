using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace RwkvQuant.Formats.Pth;

/// <summary>
/// Writes a state dict in <c>torch.save</c>'s zip layout: <c>archive/data.pkl</c> (pickle protocol 2 of an
/// OrderedDict of <c>_rebuild_tensor_v2</c> calls over persistent storages), <c>archive/data/&lt;n&gt;</c>,
/// <c>archive/byteorder</c> and <c>archive/version</c>. An independent encoder for testing the reader, and a way
/// to hand models back to PyTorch.
/// </summary>
internal static class PthWriter
{
    /// <summary>One tensor as a view of a storage: the general form that <c>_rebuild_tensor_v2</c> takes.</summary>
    internal sealed record View(string Name, int Storage, long Offset, long[] Shape, long[] Stride);

    private static readonly Dictionary<TensorDataType, string> StorageNames = new()
    {
        [TensorDataType.F32] = "FloatStorage",
        [TensorDataType.F16] = "HalfStorage",
        [TensorDataType.BF16] = "BFloat16Storage",
        [TensorDataType.F64] = "DoubleStorage",
        [TensorDataType.I64] = "LongStorage",
        [TensorDataType.I32] = "IntStorage",
        [TensorDataType.I16] = "ShortStorage",
        [TensorDataType.I8] = "CharStorage",
        [TensorDataType.U8] = "ByteStorage",
        [TensorDataType.Bool] = "BoolStorage",
    };

    /// <summary>Writes contiguous tensors, one storage each.</summary>
    public static void Write(Stream stream, IReadOnlyList<TensorData> tensors, string prefix = "archive")
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var storages = tensors.Select(t => (t.Type, t.Bytes.ToArray())).ToList();
        var views = tensors.Select((t, i) => new View(t.Name, i, 0, t.Shape.ToArray(), RowMajorStrides(t.Shape))).ToList();
        Write(stream, storages, views, prefix);
    }

    /// <summary>Writes storages and views of them (any offset and strides, storages shared between views).</summary>
    public static void Write(Stream stream, IReadOnlyList<(TensorDataType Type, byte[] Bytes)> storages, IReadOnlyList<View> views, string prefix = "archive")
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(storages);
        ArgumentNullException.ThrowIfNull(views);
        using var archive = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
        AddEntry(archive, $"{prefix}/data.pkl", Pickle(storages, views));
        AddEntry(archive, $"{prefix}/byteorder", Encoding.ASCII.GetBytes("little"));
        for (int i = 0; i < storages.Count; i++)
            AddEntry(archive, $"{prefix}/data/{i}", storages[i].Bytes);
        AddEntry(archive, $"{prefix}/version", Encoding.ASCII.GetBytes("3\n"));
    }

    private static long[] RowMajorStrides(IReadOnlyList<long> shape)
    {
        var strides = new long[shape.Count];
        long stride = 1;
        for (int d = shape.Count - 1; d >= 0; d--)
        {
            strides[d] = stride;
            stride *= shape[d];
        }
        return strides;
    }

    private static void AddEntry(ZipArchive archive, string name, byte[] bytes)
    {
        using Stream entry = archive.CreateEntry(name, CompressionLevel.NoCompression).Open();
        entry.Write(bytes);
    }

    private static byte[] Pickle(IReadOnlyList<(TensorDataType Type, byte[] Bytes)> storages, IReadOnlyList<View> views)
    {
        using var pickle = new MemoryStream();
        pickle.Write([0x80, 2]);                          // PROTO 2
        Global(pickle, "collections", "OrderedDict");
        pickle.Write([(byte)')', (byte)'R']);             // EMPTY_TUPLE REDUCE → OrderedDict()
        pickle.WriteByte((byte)'(');                      // MARK
        foreach (View view in views)
        {
            (TensorDataType type, byte[] bytes) = storages[view.Storage];
            Unicode(pickle, view.Name);
            Global(pickle, "torch._utils", "_rebuild_tensor_v2");
            pickle.WriteByte((byte)'(');                  // MARK of the argument tuple
            pickle.WriteByte((byte)'(');                  // MARK of the persistent id
            Unicode(pickle, "storage");
            Global(pickle, "torch", StorageNames[type]);
            Unicode(pickle, view.Storage.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Unicode(pickle, "cpu");
            Integer(pickle, bytes.Length / type.SizeOf());
            pickle.Write([(byte)'t', (byte)'Q']);         // TUPLE BINPERSID
            Integer(pickle, view.Offset);
            IntegerTuple(pickle, view.Shape);
            IntegerTuple(pickle, view.Stride);
            pickle.WriteByte(0x89);                       // NEWFALSE: requires_grad
            Global(pickle, "collections", "OrderedDict");
            pickle.Write([(byte)')', (byte)'R']);         // backward_hooks = OrderedDict()
            pickle.Write([(byte)'t', (byte)'R']);         // TUPLE REDUCE
        }
        pickle.Write([(byte)'u', (byte)'.']);             // SETITEMS STOP
        return pickle.ToArray();
    }

    private static void Global(Stream pickle, string module, string name)
    {
        pickle.WriteByte((byte)'c');
        pickle.Write(Encoding.ASCII.GetBytes($"{module}\n{name}\n"));
    }

    private static void Unicode(Stream pickle, string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(length, bytes.Length);
        pickle.WriteByte((byte)'X');                      // BINUNICODE
        pickle.Write(length);
        pickle.Write(bytes);
    }

    private static void Integer(Stream pickle, long value)
    {
        Span<byte> bytes = stackalloc byte[8];
        if (value is >= int.MinValue and <= int.MaxValue)
        {
            BinaryPrimitives.WriteInt32LittleEndian(bytes, (int)value);
            pickle.WriteByte((byte)'J');                  // BININT
            pickle.Write(bytes[..4]);
        }
        else
        {
            BinaryPrimitives.WriteInt64LittleEndian(bytes, value);
            pickle.Write([0x8a, 8]);                      // LONG1, 8 bytes
            pickle.Write(bytes);
        }
    }

    private static void IntegerTuple(Stream pickle, long[] values)
    {
        pickle.WriteByte((byte)'(');
        foreach (long value in values)
            Integer(pickle, value);
        pickle.WriteByte((byte)'t');
    }
}
