using System.Buffers.Binary;
using System.Text;

namespace RwkvQuant.Formats.Ggml;

/// <summary>
/// Writes rwkv.cpp model files record by record, exactly as stored (no converter transforms): the header, then each
/// <see cref="GgmlTensor"/> as <c>dim_count, key_length, data_type, shape (reversed), key, data</c>. The inverse of
/// <see cref="GgmlReader"/>; <see cref="Models.GgmlModelWriter"/> builds canonical models on top of the same layout.
/// </summary>
internal static class GgmlRecordWriter
{
    /// <summary>Writes the six-int32 header.</summary>
    public static void WriteHeader(Stream stream, GgmlHeader header)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(header);
        Span<byte> bytes = stackalloc byte[GgmlHeader.Size];
        BinaryPrimitives.WriteInt32LittleEndian(bytes[0..], GgmlHeader.Magic);
        BinaryPrimitives.WriteInt32LittleEndian(bytes[4..], header.FileVersion);
        BinaryPrimitives.WriteInt32LittleEndian(bytes[8..], header.VocabularySize);
        BinaryPrimitives.WriteInt32LittleEndian(bytes[12..], header.EmbeddingSize);
        BinaryPrimitives.WriteInt32LittleEndian(bytes[16..], header.LayerCount);
        BinaryPrimitives.WriteInt32LittleEndian(bytes[20..], (int)header.DataType);
        stream.Write(bytes);
    }

    /// <summary>Writes one record.</summary>
    /// <exception cref="ArgumentException">The data size does not match the shape and type.</exception>
    public static void WriteRecord(Stream stream, GgmlTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(tensor);
        long expected = tensor.Type.StorageSize(tensor.ElementCount);
        if (expected != tensor.Data.LongLength)
            throw new ArgumentException($"Tensor '{tensor.Name}' of type {tensor.Type} and shape [{string.Join(", ", tensor.Shape)}] needs {expected} bytes, got {tensor.Data.LongLength}.", nameof(tensor));
        byte[] key = Encoding.UTF8.GetBytes(tensor.Name);
        var head = new byte[4 * (3 + tensor.Shape.Length)];
        BinaryPrimitives.WriteInt32LittleEndian(head.AsSpan(0), tensor.Shape.Length);
        BinaryPrimitives.WriteInt32LittleEndian(head.AsSpan(4), key.Length);
        BinaryPrimitives.WriteInt32LittleEndian(head.AsSpan(8), (int)tensor.Type);
        for (int i = 0; i < tensor.Shape.Length; i++) // ggml order: innermost first
            BinaryPrimitives.WriteInt32LittleEndian(head.AsSpan(12 + 4 * i), checked((int)tensor.Shape[tensor.Shape.Length - 1 - i]));
        stream.Write(head);
        stream.Write(key);
        stream.Write(tensor.Data);
    }
}
