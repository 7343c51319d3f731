using System.Buffers.Binary;

namespace RwkvQuant.Formats.Pth;

/// <summary>
/// The CRC-32 that zip archives record for each entry (ISO-HDLC: reflected polynomial 0xEDB88320, initial value and
/// final xor 0xFFFFFFFF), computed eight bytes at a time with eight 256-entry tables (slicing-by-8).
/// </summary>
internal static class ZipCrc32
{
    private const uint Polynomial = 0xEDB88320;

    // Table k maps a byte to its CRC contribution k bytes further on: Tables[k * 256 + b].
    private static readonly uint[] Tables = BuildTables();

    /// <summary>The CRC-32 of <paramref name="data"/>, as the zip central directory records it.</summary>
    public static uint Compute(ReadOnlySpan<byte> data)
    {
        uint[] t = Tables;
        uint crc = 0xFFFFFFFF;
        while (data.Length >= 8)
        {
            uint low = BinaryPrimitives.ReadUInt32LittleEndian(data) ^ crc;
            uint high = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
            crc = t[7 * 256 + (low & 0xFF)] ^ t[6 * 256 + ((low >> 8) & 0xFF)] ^ t[5 * 256 + ((low >> 16) & 0xFF)] ^ t[4 * 256 + (low >> 24)]
                ^ t[3 * 256 + (high & 0xFF)] ^ t[2 * 256 + ((high >> 8) & 0xFF)] ^ t[256 + ((high >> 16) & 0xFF)] ^ t[high >> 24];
            data = data[8..];
        }
        foreach (byte b in data)
            crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return ~crc;
    }

    private static uint[] BuildTables()
    {
        var tables = new uint[8 * 256];
        for (uint b = 0; b < 256; b++)
        {
            uint crc = b;
            for (int bit = 0; bit < 8; bit++)
                crc = (crc & 1) != 0 ? Polynomial ^ (crc >> 1) : crc >> 1;
            tables[b] = crc;
        }
        for (int k = 1; k < 8; k++)
        {
            for (int b = 0; b < 256; b++)
            {
                uint previous = tables[(k - 1) * 256 + b];
                tables[k * 256 + b] = (previous >> 8) ^ tables[previous & 0xFF];
            }
        }
        return tables;
    }
}
