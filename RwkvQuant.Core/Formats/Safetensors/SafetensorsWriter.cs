using System.Buffers.Binary;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace RwkvQuant.Formats.Safetensors;

/// <summary>
/// Writes Hugging Face safetensors files: tensors stored contiguously in the given order, the JSON header padded
/// with spaces so that the data section starts on an 8-byte boundary, <c>__metadata__</c> first when present.
/// The file is written to a temporary file in the same folder and moved over <c>path</c> only when complete.
/// </summary>
public static class SafetensorsWriter
{
    private const int Alignment = 8;

    /// <summary>Writes <paramref name="tensors"/> (and optional string <paramref name="metadata"/>) to <paramref name="path"/>.</summary>
    /// <exception cref="ArgumentException">A name is empty, repeated or <c>__metadata__</c>.</exception>
    public static void Write(string path, IReadOnlyList<TensorData> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[] header = BuildHeader(tensors, metadata);

        AtomicFile.Write(path, stream => WriteTo(stream, header, tensors));
    }

    /// <summary>Writes the file's bytes to <paramref name="stream"/>.</summary>
    /// <exception cref="ArgumentException">A name is empty, repeated or <c>__metadata__</c>.</exception>
    public static void Write(Stream stream, IReadOnlyList<TensorData> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        WriteTo(stream, BuildHeader(tensors, metadata), tensors);
    }

    /// <summary>
    /// Writes a file whose tensors are made one at a time, so that a file larger than memory can be written:
    /// <paramref name="entries"/> declares every tensor (name, type, shape) for the header, then
    /// <paramref name="tensorAt"/>(i) makes tensor i, which is written and dropped before the next is made. Atomic like
    /// <see cref="Write(string, IReadOnlyList{TensorData}, IReadOnlyDictionary{string, string}?)"/>: on any failure or
    /// cancellation (checked between tensors) no file is left.
    /// </summary>
    /// <exception cref="ArgumentException">A name is empty, repeated or <c>__metadata__</c>.</exception>
    /// <exception cref="InvalidOperationException">A made tensor does not match its declared entry.</exception>
    public static void Write(string path, IReadOnlyList<SafetensorsEntry> entries, Func<int, TensorData> tensorAt,
        IReadOnlyDictionary<string, string>? metadata = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(tensorAt);
        byte[] header = BuildHeader(entries, metadata);
        AtomicFile.Write(path, stream =>
        {
            WritePrefix(stream, header);
            for (int i = 0; i < entries.Count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                TensorData tensor = tensorAt(i);
                SafetensorsEntry entry = entries[i];
                if (tensor.Name != entry.Name || tensor.Type != entry.Type || !tensor.Shape.SequenceEqual(entry.Shape))
                    throw new InvalidOperationException($"Tensor {i} was declared as {entry} but made as {tensor}.");
                stream.Write(tensor.Bytes);
            }
        });
    }

    /// <summary>
    /// Writes a file whose data section already exists: <paramref name="data"/>, from its position to its end, holds the
    /// bytes of <paramref name="entries"/> back to back in their order (a spill file written while the tensors were
    /// made). Atomic like the other overloads; cancellation is checked between chunks of the copy.
    /// </summary>
    /// <exception cref="ArgumentException">A name is empty, repeated or <c>__metadata__</c>, or <paramref name="data"/>'s
    /// length differs from the entries' total.</exception>
    internal static void Write(string path, IReadOnlyList<SafetensorsEntry> entries, Stream data,
        IReadOnlyDictionary<string, string>? metadata, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(data);
        byte[] header = BuildHeader(entries, metadata);
        long expected = entries.Sum(e => e.ByteCount), remaining = data.Length - data.Position;
        if (remaining != expected)
            throw new ArgumentException($"The data holds {remaining} bytes but the entries declare {expected}.", nameof(data));
        AtomicFile.Write(path, stream =>
        {
            WritePrefix(stream, header);
            byte[] buffer = new byte[1 << 20];
            int read;
            while ((read = data.Read(buffer)) > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                stream.Write(buffer, 0, read);
            }
        });
    }

    private static void WriteTo(Stream stream, byte[] header, IReadOnlyList<TensorData> tensors)
    {
        WritePrefix(stream, header);
        foreach (TensorData tensor in tensors)
            stream.Write(tensor.Bytes);
    }

    private static void WritePrefix(Stream stream, byte[] header)
    {
        var prefix = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
        stream.Write(prefix);
        stream.Write(header);
    }

    private static byte[] BuildHeader(IReadOnlyList<TensorData> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var entries = new SafetensorsEntry[tensors.Count];
        for (int i = 0; i < entries.Length; i++)
        {
            TensorData tensor = tensors[i];
            ArgumentNullException.ThrowIfNull(tensor, nameof(tensors));
            entries[i] = new SafetensorsEntry(tensor.Name, tensor.Type, tensor.Shape);
        }
        return BuildHeader(entries, metadata);
    }

    /// <summary>The JSON header, padded with spaces to a multiple of 8 bytes (so data starts 8-aligned after the 8-byte length).</summary>
    private static byte[] BuildHeader(IReadOnlyList<SafetensorsEntry> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var names = new HashSet<string>(StringComparer.Ordinal);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(SafetensorsReader.MetadataKey);
                foreach (KeyValuePair<string, string> item in metadata)
                {
                    ArgumentNullException.ThrowIfNull(item.Value, nameof(metadata));
                    json.WriteString(item.Key, item.Value);
                }
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (SafetensorsEntry tensor in tensors)
            {
                if (tensor.Name == SafetensorsReader.MetadataKey)
                    throw new ArgumentException($"A tensor may not be named '{SafetensorsReader.MetadataKey}'.", nameof(tensors));
                if (!names.Add(tensor.Name))
                    throw new ArgumentException($"Tensor name '{tensor.Name}' appears twice.", nameof(tensors));
                json.WriteStartObject(tensor.Name);
                json.WriteString("dtype", SafetensorsDtypes.Name(tensor.Type));
                json.WriteStartArray("shape");
                foreach (long dimension in tensor.Shape)
                    json.WriteNumberValue(dimension);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                offset += tensor.ByteCount;
                json.WriteNumberValue(offset);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        int padding = (int)((Alignment - buffer.Length % Alignment) % Alignment);
        for (int i = 0; i < padding; i++)
            buffer.WriteByte((byte)' ');
        return buffer.ToArray();
    }
}

/// <summary>One tensor as a safetensors header declares it, before its bytes exist.</summary>
public sealed record SafetensorsEntry(string Name, TensorDataType Type, IReadOnlyList<long> Shape)
{
    /// <summary>The tensor's size in bytes.</summary>
    public long ByteCount => Shape.Aggregate(1L, (count, dimension) => checked(count * dimension)) * Type.SizeOf();

    /// <inheritdoc />
    public override string ToString() => $"{Name} {Type} [{string.Join(", ", Shape)}]";
}
