using System.Buffers.Binary;
using System.Text.Json;

namespace RwkvQuant.Formats.Safetensors;

/// <summary>
/// Reads Hugging Face safetensors files: an 8-byte little-endian header length N, N bytes of UTF-8 JSON mapping
/// each tensor name to <c>{"dtype", "shape", "data_offsets": [begin, end]}</c> (offsets relative to the data
/// section) plus an optional <c>"__metadata__"</c> string map, then the data section. The header is validated
/// completely (sizes, bounds, overlaps, gaps) before any tensor data is allocated.
/// </summary>
public static class SafetensorsReader
{
    /// <summary>Largest header accepted (the reference implementation's limit).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>Key of the metadata map in the header.</summary>
    public const string MetadataKey = "__metadata__";

    /// <summary>
    /// Most entries (tensors and <c>__metadata__</c>) a header may hold: 262,144, far beyond any model (an RWKV-7 of
    /// 61 layers quantized to <c>.rwkvq</c> holds about 10,000). Parsing costs about a kilobyte per entry however small
    /// its JSON, so the cap is what keeps a header of millions of empty tensors from taking gigabytes.
    /// </summary>
    public const int MaxEntries = 1 << 18;

    private const int LengthPrefixBytes = 8;

    private const int MaxHeaderDepth = 8;

    private sealed record Entry(string Name, TensorDataType Type, long[] Shape, long Begin, long End);

    /// <summary>Reads all tensors and the metadata of <paramref name="path"/>.</summary>
    /// <exception cref="InvalidDataException">The file is malformed; the message names the file and the tensor.</exception>
    public static SafetensorsFile Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using FileStream stream = File.OpenRead(path);
        return Read(stream, path);
    }

    /// <summary>
    /// Opens <paramref name="path"/> without reading its tensors: the header is read and validated completely now, and
    /// each tensor is file-backed (<see cref="TensorData.IsFileBacked"/>), its bytes read from the file when asked for.
    /// A model larger than memory can so be opened and worked through tensor by tensor.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is malformed; the message names the file and the tensor.</exception>
    public static SafetensorsFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        OpenModelFile file = OpenModelFile.Open(path);
        try
        {
            return Open(file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>As <see cref="Open(string)"/>, over a file the caller opened (and closes when done with the tensors).</summary>
    /// <exception cref="InvalidDataException">The file is malformed; the message names the file and the tensor.</exception>
    internal static SafetensorsFile Open(OpenModelFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        (List<Entry> entries, Dictionary<string, string> metadata, long dataStart) = ReadLayout(new RandomAccessStream(file), file.Path);
        var tensors = entries.Select(e => new TensorData(e.Name, e.Type, e.Shape, new FileRegion(file, dataStart + e.Begin, e.End - e.Begin))).ToList();
        return new SafetensorsFile(tensors, metadata);
    }

    /// <summary>Reads from a seekable stream positioned at the start of the file; <paramref name="path"/> names it in errors.</summary>
    /// <exception cref="InvalidDataException">The data is malformed; the message names <paramref name="path"/> and the tensor.</exception>
    public static SafetensorsFile Read(Stream stream, string path)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(path);
        long origin = stream.Position;
        (List<Entry> entries, Dictionary<string, string> metadata, long dataStart) = ReadLayout(stream, path);

        // Header fully validated: every tensor fits, so allocation is bounded by the file length.
        var tensors = new List<TensorData>(entries.Count);
        foreach (Entry entry in entries)
        {
            var bytes = new byte[entry.End - entry.Begin];
            stream.Position = origin + dataStart + entry.Begin;
            stream.ReadExactly(bytes);
            tensors.Add(new TensorData(entry.Name, entry.Type, entry.Shape, bytes));
        }
        return new SafetensorsFile(tensors, metadata);
    }

    /// <summary>The validated entries (in data order), the metadata and where the data section starts, relative to
    /// the stream's position on entry.</summary>
    private static (List<Entry> Entries, Dictionary<string, string> Metadata, long DataStart) ReadLayout(Stream stream, string path)
    {
        long length = stream.Length - stream.Position;
        if (length < LengthPrefixBytes)
            throw ModelFileError.Create(path, null, $"file is {length} bytes, shorter than the 8-byte safetensors header length.");
        var prefix = new byte[LengthPrefixBytes];
        stream.ReadExactly(prefix);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > MaxHeaderBytes)
            throw ModelFileError.Create(path, null, $"header length {headerLength} exceeds the {MaxHeaderBytes}-byte limit.");
        if ((long)headerLength > length - LengthPrefixBytes)
            throw ModelFileError.Create(path, null, $"header length {headerLength} runs past the end of the file ({length} bytes).");
        var header = new byte[headerLength];
        stream.ReadExactly(header);
        long dataLength = length - LengthPrefixBytes - (long)headerLength;

        (List<Entry> entries, Dictionary<string, string> metadata) = ParseHeader(header, path);
        CheckLayout(entries, dataLength, path);
        return (entries, metadata, LengthPrefixBytes + (long)headerLength);
    }

    /// <summary>A read-only seekable view of an <see cref="OpenModelFile"/> from its start, for reading the header.</summary>
    private sealed class RandomAccessStream(OpenModelFile file) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => file.Length;
        public override long Position { get; set; }

        public override int Read(byte[] buffer, int offset, int count)
        {
            int n = (int)Math.Clamp(Length - Position, 0, count);
            if (n == 0)
                return 0;
            file.Read(Position, n, "(header)").CopyTo(buffer, offset);
            Position += n;
            return n;
        }

        public override long Seek(long offset, SeekOrigin origin) =>
            Position = origin switch { SeekOrigin.Begin => offset, SeekOrigin.Current => Position + offset, _ => Length + offset };

        public override void Flush() { }
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private static (List<Entry> Entries, Dictionary<string, string> Metadata) ParseHeader(byte[] header, string path)
    {
        CheckEntryCount(header, path);
        using (JsonDocument document = HeaderJson.Parse(header, MaxHeaderDepth, path, "header"))
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw ModelFileError.Create(path, null, $"header is a JSON {root.ValueKind}, expected an object.");
            var entries = new List<Entry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty property in root.EnumerateObject())
            {
                string name = property.Name;
                if (!names.Add(name))
                    throw ModelFileError.Create(path, name, "the name appears twice in the header.");
                if (name == MetadataKey)
                    ReadMetadata(property.Value, metadata, path);
                else
                    entries.Add(ParseEntry(name, property.Value, path));
            }
            return (entries, metadata);
        }
    }

    /// <summary>
    /// Counts the header's top-level names in one pass that allocates nothing, so that a header of more than
    /// <see cref="MaxEntries"/> entries is refused before a document is built for it.
    /// </summary>
    private static void CheckEntryCount(byte[] header, string path)
    {
        var reader = new Utf8JsonReader(header, new JsonReaderOptions { MaxDepth = MaxHeaderDepth });
        int count = 0;
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1 && ++count > MaxEntries)
                    throw ModelFileError.Create(path, null, $"header holds more than {MaxEntries} entries.");
            }
        }
        catch (JsonException exception)
        {
            throw ModelFileError.Create(path, null, $"header is not valid JSON: {exception.Message}", exception);
        }
    }

    private static void ReadMetadata(JsonElement element, Dictionary<string, string> metadata, string path)
    {
        if (element.ValueKind != JsonValueKind.Object)
            throw ModelFileError.Create(path, null, $"{MetadataKey} is a JSON {element.ValueKind}, expected an object of strings.");
        foreach (JsonProperty item in element.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw ModelFileError.Create(path, null, $"{MetadataKey} entry '{item.Name}' is a JSON {item.Value.ValueKind}, expected a string.");
            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
                throw ModelFileError.Create(path, null, $"{MetadataKey} entry '{item.Name}' appears twice.");
        }
    }

    private static Entry ParseEntry(string name, JsonElement element, string path)
    {
        if (name.Length == 0)
            throw ModelFileError.Create(path, null, "a tensor has an empty name.");
        if (element.ValueKind != JsonValueKind.Object)
            throw ModelFileError.Create(path, name, $"entry is a JSON {element.ValueKind}, expected an object.");
        if (!element.TryGetProperty("dtype", out JsonElement dtype) || dtype.ValueKind != JsonValueKind.String)
            throw ModelFileError.Create(path, name, "missing string field 'dtype'.");
        string dtypeName = dtype.GetString()!;
        if (!SafetensorsDtypes.TryParse(dtypeName, out TensorDataType type))
            throw ModelFileError.Create(path, name, $"unknown dtype '{dtypeName}'.");

        long[] shape = ReadIntegers(element, "shape", name, path);
        long count = 1;
        foreach (long dimension in shape)
        {
            // Dimensions are non-negative (ReadIntegers); the product must fit a long, and so must the byte size.
            if (dimension != 0 && count > long.MaxValue / dimension)
                throw ModelFileError.Create(path, name, $"shape [{string.Join(", ", shape)}] has too many elements.");
            count *= dimension;
        }
        if (count > long.MaxValue / type.SizeOf())
            throw ModelFileError.Create(path, name, $"shape [{string.Join(", ", shape)}] has too many elements.");

        long[] offsets = ReadIntegers(element, "data_offsets", name, path);
        if (offsets.Length != 2)
            throw ModelFileError.Create(path, name, $"data_offsets has {offsets.Length} values, expected [begin, end].");
        long begin = offsets[0], end = offsets[1];
        if (begin > end)
            throw ModelFileError.Create(path, name, $"data_offsets [{begin}, {end}] end before they begin.");
        long expected = count * type.SizeOf();
        if (end - begin != expected)
            throw ModelFileError.Create(path, name, $"data_offsets [{begin}, {end}] span {end - begin} bytes, but {type} [{string.Join(", ", shape)}] needs {expected}.");
        return new Entry(name, type, shape, begin, end);
    }

    private static long[] ReadIntegers(JsonElement element, string field, string name, string path)
    {
        if (!element.TryGetProperty(field, out JsonElement array) || array.ValueKind != JsonValueKind.Array)
            throw ModelFileError.Create(path, name, $"missing array field '{field}'.");
        int length = array.GetArrayLength();
        if (length > 64)
            throw ModelFileError.Create(path, name, $"'{field}' has {length} values.");
        var values = new long[length];
        int i = 0;
        foreach (JsonElement item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long value) || value < 0)
                throw ModelFileError.Create(path, name, $"'{field}' holds {item.GetRawText()}, expected a non-negative integer.");
            values[i++] = value;
        }
        return values;
    }

    /// <summary>Checks that the tensors tile the data section exactly: inside it, no overlaps, no gaps.</summary>
    private static void CheckLayout(List<Entry> entries, long dataLength, string path)
    {
        entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long position = 0;
        foreach (Entry entry in entries)
        {
            if (entry.End > dataLength)
                throw ModelFileError.Create(path, entry.Name, $"data_offsets [{entry.Begin}, {entry.End}] run past the {dataLength}-byte data section (truncated file?).");
            if (entry.Begin < position)
                throw ModelFileError.Create(path, entry.Name, $"data_offsets [{entry.Begin}, {entry.End}] overlap the previous tensor, which ends at {position}.");
            if (entry.Begin > position)
                throw ModelFileError.Create(path, entry.Name, $"data_offsets [{entry.Begin}, {entry.End}] leave a gap after offset {position}.");
            position = entry.End;
        }
        if (position != dataLength)
            throw ModelFileError.Create(path, null, $"tensors cover {position} bytes of the {dataLength}-byte data section.");
    }
}
