using System.Buffers.Binary;
using System.Globalization;
using RwkvQuant.Formats.Ggml;

namespace RwkvQuant.Fuzz.Layouts;

/// <summary>
/// The structure of a well-formed rwkv.cpp file: the six header fields, and per record its dimension count, key length,
/// type and dimensions (the integer fields), its header and key (the structure), and where the whole record lies.
/// </summary>
internal static class GgmlLayout
{
    /// <summary>One record: <paramref name="Length"/> bytes at <paramref name="Start"/>, header and key included.</summary>
    public sealed record Record(long Start, long Length, string Name);

    private static readonly string[] HeaderFields = ["magic", "version", "n_vocab", "n_embed", "n_layer", "data_type"];

    /// <summary>The layout and records of <paramref name="bytes"/>, a file <see cref="GgmlReader"/> reads.</summary>
    public static (FileLayout Layout, IReadOnlyList<Record> Records) Of(byte[] bytes)
    {
        var fields = new List<IntegerField>();
        var structure = new List<(long, long)> { (0, GgmlHeader.Size) };
        var records = new List<Record>();
        for (int i = 0; i < HeaderFields.Length; i++)
            fields.Add(new IntegerField(i * 4, 4, "header " + HeaderFields[i]));
        long position = GgmlHeader.Size;
        while (position < bytes.LongLength)
        {
            int dimensions = Int(bytes, position), keyLength = Int(bytes, position + 4), type = Int(bytes, position + 8);
            string index = records.Count.ToString(CultureInfo.InvariantCulture);
            fields.Add(new IntegerField(position, 4, $"record {index} dim_count"));
            fields.Add(new IntegerField(position + 4, 4, $"record {index} key_length"));
            fields.Add(new IntegerField(position + 8, 4, $"record {index} data_type"));
            long count = 1;
            for (int d = 0; d < dimensions; d++)
            {
                fields.Add(new IntegerField(position + 12 + 4 * d, 4, string.Create(CultureInfo.InvariantCulture, $"record {index} dim {d}")));
                count *= Int(bytes, position + 12 + 4 * d);
            }
            long headerLength = 12 + 4L * dimensions + keyLength;
            string name = System.Text.Encoding.UTF8.GetString(bytes, (int)(position + 12 + 4 * dimensions), keyLength);
            structure.Add((position, headerLength));
            long length = headerLength + ((GgmlType)type).StorageSize(count);
            records.Add(new Record(position, length, name));
            position += length;
        }
        return (new FileLayout(fields, structure), records);
    }

    private static int Int(byte[] bytes, long offset) => BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan((int)offset, 4));
}
