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

        string fullPath = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(fullPath) ?? ".";
        string temporary = Path.Combine(folder, $".{Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                WriteTo(stream, header, tensors);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, fullPath, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    /// <summary>Writes the file's bytes to <paramref name="stream"/>.</summary>
    /// <exception cref="ArgumentException">A name is empty, repeated or <c>__metadata__</c>.</exception>
    public static void Write(Stream stream, IReadOnlyList<TensorData> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        WriteTo(stream, BuildHeader(tensors, metadata), tensors);
    }

    private static void WriteTo(Stream stream, byte[] header, IReadOnlyList<TensorData> tensors)
    {
        var prefix = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
        stream.Write(prefix);
        stream.Write(header);
        foreach (TensorData tensor in tensors)
            stream.Write(tensor.Bytes);
    }

    /// <summary>The JSON header, padded with spaces to a multiple of 8 bytes (so data starts 8-aligned after the 8-byte length).</summary>
    private static byte[] BuildHeader(IReadOnlyList<TensorData> tensors, IReadOnlyDictionary<string, string>? metadata)
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
            foreach (TensorData tensor in tensors)
            {
                ArgumentNullException.ThrowIfNull(tensor, nameof(tensors));
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
                offset += tensor.Bytes.Length;
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
