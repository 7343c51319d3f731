using System.Buffers.Binary;

namespace RwkvQuant.Fuzz.Layouts;

/// <summary>
/// The structure of a well-formed zip archive: the end-of-central-directory record (EOCD), every central directory
/// record and every local header, with their size, offset, count, length and CRC fields as integer fields.
/// </summary>
internal static class ZipLayout
{
    private const uint LocalSignature = 0x04034b50;
    private const uint CentralSignature = 0x02014b50;
    private const uint EndSignature = 0x06054b50;
    private const int EndSize = 22;

    /// <summary>The layout of <paramref name="bytes"/>; an archive without an EOCD gives an empty layout.</summary>
    public static FileLayout Of(byte[] bytes)
    {
        int end = FindEnd(bytes);
        if (end < 0)
            return FileLayout.Empty;
        var fields = new List<IntegerField>
        {
            new(end + 8, 2, "EOCD entries on this disk"),
            new(end + 10, 2, "EOCD total entries"),
            new(end + 12, 4, "EOCD central directory size"),
            new(end + 16, 4, "EOCD central directory offset"),
            new(end + 20, 2, "EOCD comment length"),
        };
        var structure = new List<(long, long)> { (end, EndSize) };
        int entries = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(end + 10));
        long central = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(end + 16));
        structure.Add((central, end - central));
        long position = central;
        for (int i = 0; i < entries && position + 46 <= bytes.Length && U32(bytes, position) == CentralSignature; i++)
        {
            int nameLength = U16(bytes, position + 28), extraLength = U16(bytes, position + 30), commentLength = U16(bytes, position + 32);
            string name = System.Text.Encoding.UTF8.GetString(bytes, (int)position + 46, nameLength);
            string c = $"central '{name}'";
            fields.Add(new IntegerField(position + 10, 2, c + " method"));
            fields.Add(new IntegerField(position + 8, 2, c + " flags"));
            fields.Add(new IntegerField(position + 16, 4, c + " crc32"));
            fields.Add(new IntegerField(position + 20, 4, c + " compressed size"));
            fields.Add(new IntegerField(position + 24, 4, c + " uncompressed size"));
            fields.Add(new IntegerField(position + 28, 2, c + " name length"));
            fields.Add(new IntegerField(position + 30, 2, c + " extra length"));
            fields.Add(new IntegerField(position + 42, 4, c + " local header offset"));
            long local = U32(bytes, position + 42);
            if (local + 30 <= bytes.Length && U32(bytes, local) == LocalSignature)
            {
                string l = $"local '{name}'";
                fields.Add(new IntegerField(local + 6, 2, l + " flags"));
                fields.Add(new IntegerField(local + 8, 2, l + " method"));
                fields.Add(new IntegerField(local + 14, 4, l + " crc32"));
                fields.Add(new IntegerField(local + 18, 4, l + " compressed size"));
                fields.Add(new IntegerField(local + 22, 4, l + " uncompressed size"));
                fields.Add(new IntegerField(local + 26, 2, l + " name length"));
                fields.Add(new IntegerField(local + 28, 2, l + " extra length"));
                structure.Add((local, 30 + U16(bytes, local + 26) + U16(bytes, local + 28)));
            }
            position += 46 + nameLength + extraLength + commentLength;
        }
        return new FileLayout(fields, structure);
    }

    /// <summary>Sets every local and central header's modification time and date to zero, so that an archive written
    /// now and one written tomorrow are the same bytes.</summary>
    public static void ClearTimestamps(byte[] bytes)
    {
        int end = FindEnd(bytes);
        if (end < 0)
            return;
        int entries = U16(bytes, end + 10);
        long position = U32(bytes, end + 16);
        for (int i = 0; i < entries && U32(bytes, position) == CentralSignature; i++)
        {
            bytes.AsSpan((int)position + 12, 4).Clear();
            long local = U32(bytes, position + 42);
            bytes.AsSpan((int)local + 10, 4).Clear();
            position += 46 + U16(bytes, position + 28) + U16(bytes, position + 30) + U16(bytes, position + 32);
        }
    }

    private static int FindEnd(byte[] bytes)
    {
        for (int i = bytes.Length - EndSize; i >= Math.Max(0, bytes.Length - EndSize - 0xFFFF); i--)
        {
            if (U32(bytes, i) == EndSignature)
                return i;
        }
        return -1;
    }

    private static int U16(byte[] bytes, long offset) => BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan((int)offset));

    private static long U32(byte[] bytes, long offset) => BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan((int)offset));
}
