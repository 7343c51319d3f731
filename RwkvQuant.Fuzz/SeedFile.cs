using System.Buffers.Binary;
using RwkvQuant.Fuzz.Layouts;
using RwkvQuant.Fuzz.Mutations;

namespace RwkvQuant.Fuzz;

/// <summary>
/// A well-formed file the mutations start from, with what the format-aware mutations need to know of it: its integer
/// fields and structure, its rwkv.cpp records, or its zip entries.
/// </summary>
public sealed class SeedFile
{
    private SeedFile(FuzzFormat format, string name, byte[] bytes)
    {
        Format = format;
        Name = name;
        Bytes = bytes;
        switch (format)
        {
            case FuzzFormat.Bin:
                (Layout, Records) = GgmlLayout.Of(bytes);
                break;
            case FuzzFormat.Pth:
                Layout = ZipLayout.Of(bytes);
                Entries = ZipEntries.Read(bytes);
                break;
            default:
                long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
                Layout = new FileLayout([new IntegerField(0, 8, "safetensors header length")], [(0, 8 + headerLength)]);
                break;
        }
    }

    /// <summary>A seed of <paramref name="format"/> named <paramref name="name"/> holding <paramref name="bytes"/>.</summary>
    public static SeedFile Create(FuzzFormat format, string name, byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(bytes);
        return new SeedFile(format, name, bytes);
    }

    /// <summary>The format.</summary>
    public FuzzFormat Format { get; }

    /// <summary>A short name for summaries, e.g. <c>tiny-rwkv-7v0-834K-FP16.bin</c>.</summary>
    public string Name { get; }

    /// <summary>The file's bytes (never changed).</summary>
    public byte[] Bytes { get; }

    /// <summary>Integer fields and structure ranges.</summary>
    internal FileLayout Layout { get; }

    /// <summary>The records of an rwkv.cpp file (empty for other formats).</summary>
    internal IReadOnlyList<GgmlLayout.Record> Records { get; } = [];

    /// <summary>The entries of a zip (<c>.pth</c>) file (empty for other formats).</summary>
    internal List<(string Name, byte[] Bytes)> Entries { get; } = [];
}
