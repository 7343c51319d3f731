using System.IO.Compression;

namespace RwkvQuant.Fuzz.Mutations;

/// <summary>
/// The entries of a zip archive as name and bytes, and an archive rebuilt from them with correct sizes and CRCs, so that a
/// mutation of an entry's content reaches the reader behind the CRC check.
/// </summary>
internal static class ZipEntries
{
    private static readonly DateTimeOffset Timestamp = new(2020, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>The entries of <paramref name="archive"/>, in the order of its central directory.</summary>
    public static List<(string Name, byte[] Bytes)> Read(byte[] archive)
    {
        using var zip = new ZipArchive(new MemoryStream(archive, writable: false), ZipArchiveMode.Read);
        var entries = new List<(string, byte[])>(zip.Entries.Count);
        foreach (ZipArchiveEntry entry in zip.Entries)
        {
            using Stream stream = entry.Open();
            var bytes = new byte[entry.Length];
            stream.ReadExactly(bytes);
            entries.Add((entry.FullName, bytes));
        }
        return entries;
    }

    /// <summary>An archive of <paramref name="entries"/>, stored or, with <paramref name="deflate"/>, deflated, with a
    /// fixed timestamp.</summary>
    public static byte[] Write(IEnumerable<(string Name, byte[] Bytes)> entries, bool deflate = false)
    {
        using var output = new MemoryStream();
        using (var zip = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach ((string name, byte[] bytes) in entries)
            {
                ZipArchiveEntry entry = zip.CreateEntry(name, deflate ? CompressionLevel.Fastest : CompressionLevel.NoCompression);
                entry.LastWriteTime = Timestamp;
                using Stream stream = entry.Open();
                stream.Write(bytes);
            }
        }
        return output.ToArray();
    }
}
