using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;
using RwkvQuant.Formats;
using RwkvQuant.Formats.Pth;
using RwkvQuant.Formats.Safetensors;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;

namespace RwkvQuant.Tests.Formats;

/// <summary>
/// Broken and hostile files, each built here in a few bytes, the way fuzzing found them: every one must end in an
/// <see cref="InvalidDataException"/> naming the file (and the tensor, where there is one), and must fail before taking
/// memory out of proportion to the file.
/// </summary>
public sealed class HostileFileTests : IDisposable
{
    /// <summary>What a read of these small files may allocate before it fails (the defects took 0.5 to 2 GB).</summary>
    private const long AllocationLimit = 64 << 20;

    private readonly string _folder = Directory.CreateTempSubdirectory("rwkvquant-hostile-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    // ---- safetensors and .rwkvq headers ----

    // Latin-1 so that \u00FF and \u00C3 become the single bytes 0xFF and 0xC3, which are not UTF-8 on their own.
    public static TheoryData<byte[]> HeadersWithInvalidText => new()
    {
        // A name holding a byte that is not UTF-8.
        Encoding.Latin1.GetBytes("{\"t\u00FF\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}"),
        // A metadata value ending in half a UTF-8 sequence.
        Encoding.Latin1.GetBytes("{\"__metadata__\":{\"k\":\"v\u00C3\"},\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}"),
        // A name escaping half a surrogate pair.
        Ascii("{\"\\ud800\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}"),
    };

    [Theory]
    [MemberData(nameof(HeadersWithInvalidText))]
    public void A_safetensors_header_holding_invalid_text_is_named(byte[] header)
    {
        var error = Assert.Throws<InvalidDataException>(() => SafetensorsReader.Read(new MemoryStream(Safetensors(header, new byte[1])), "text.safetensors"));
        Assert.Contains("text.safetensors", error.Message, StringComparison.Ordinal);
        Assert.Contains("not valid Unicode", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\\\"version\\\":\\\"\\\\ud800\\\"}", "{}", "metadata config")]
    [InlineData(ValidConfig, "{\\\"\\\\udc00\\\":{}}", "metadata tensors")]
    public void A_rwkvq_file_whose_metadata_holds_invalid_text_is_named(string config, string tensors, string what)
    {
        string json = "{\"__metadata__\":{\"format\":\"rwkvquant\",\"format_version\":\"1\",\"rwkv_version\":\"V7\","
            + $"\"config\":\"{config}\",\"tensors\":\"{tensors}\"}}}}";
        string path = Path.Combine(_folder, "text.rwkvq");
        File.WriteAllBytes(path, Safetensors(Ascii(json), []));

        var error = Assert.Throws<InvalidDataException>(() => QuantizedModelFile.Load(path));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains($"{what} holds a name or string that is not valid Unicode", error.Message, StringComparison.Ordinal);
        error = Assert.Throws<InvalidDataException>(() => QuantizedModelFile.ReadHeader(path));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    private const string ValidConfig = "{\\\"version\\\":\\\"V7\\\",\\\"layers\\\":1,\\\"embedding_size\\\":4,\\\"vocabulary_size\\\":8,"
        + "\\\"head_count\\\":1,\\\"head_size\\\":4,\\\"feed_forward_size\\\":16}";

    [Fact]
    public void A_safetensors_header_of_too_many_entries_is_refused_before_it_is_parsed()
    {
        // Empty entries cost a kilobyte each to parse, however short their JSON: 1.5 million took 1.3 GB.
        var json = new StringBuilder("{");
        for (int i = 0; i <= SafetensorsReader.MaxEntries; i++)
            json.Append(i == 0 ? "" : ",").Append("\"t").Append(i).Append("\":0");
        byte[] file = Safetensors(Ascii(json.Append('}').ToString()), []);

        var error = ThrowsWithinLimit(() => SafetensorsReader.Read(new MemoryStream(file), "many.safetensors"));
        Assert.Contains("many.safetensors", error.Message, StringComparison.Ordinal);
        Assert.Contains($"more than {SafetensorsReader.MaxEntries} entries", error.Message, StringComparison.Ordinal);
    }

    // ---- .pth: archive structure ----

    [Fact]
    public void A_corrupt_central_directory_is_named()
    {
        byte[] zip = Checkpoint(("w", "0", 2, 0, [2], [1])).ToArray();
        int record = CentralRecord(zip, "archive/data/0");
        zip[record] ^= 0xFF; // the record's signature: the directory no longer parses

        var error = Assert.Throws<InvalidDataException>(() => PthReader.Read(new MemoryStream(zip), "directory.pth"));
        Assert.Contains("directory.pth", error.Message, StringComparison.Ordinal);
        Assert.Contains("central directory", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_flipped_storage_byte_fails_the_crc_check_naming_the_tensor()
    {
        float[] values = [1, 2, 3, 4];
        byte[] zip = Checkpoint([("w", "0", 4, 0, [4], [1])], ("0", MemoryMarshal.AsBytes(values.AsSpan()).ToArray())).ToArray();
        zip[LocalData(zip, "archive/data/0") + 5] ^= 0x10;

        var error = Assert.Throws<InvalidDataException>(() => PthReader.Read(new MemoryStream(zip), "flipped.pth"));
        Assert.Contains("flipped.pth", error.Message, StringComparison.Ordinal);
        Assert.Contains("CRC-32", error.Message, StringComparison.Ordinal);
        Assert.Equal("w", error.Data[ModelFileError.TensorNameKey]);
    }

    [Fact]
    public void A_storage_whose_directory_record_points_at_another_entry_is_refused_naming_the_tensor()
    {
        // Offset 0 is data.pkl's local header: the storage would read the pickle's bytes as its elements.
        byte[] zip = Checkpoint(("w", "0", 2, 0, [2], [1])).ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(zip.AsSpan(CentralRecord(zip, "archive/data/0") + 42), 0);

        var error = Assert.Throws<InvalidDataException>(() => PthReader.Read(new MemoryStream(zip), "redirected.pth"));
        Assert.Contains("redirected.pth", error.Message, StringComparison.Ordinal);
        Assert.Equal("w", error.Data[ModelFileError.TensorNameKey]);
    }

    // ---- .pth: storages and views ----

    [Fact]
    public void One_storage_declared_with_two_sizes_is_refused_naming_the_tensor()
    {
        // Both tensors name storage "0" (8 bytes), the second as 4 floats: its view reached past the bytes read.
        MemoryStream stream = Checkpoint([("a", "0", 2, 0, [2], [1]), ("b", "0", 4, 0, [4], [1])], ("0", new byte[8]));

        var error = Assert.Throws<InvalidDataException>(() => PthReader.Read(stream, "shared.pth"));
        Assert.Contains("shared.pth", error.Message, StringComparison.Ordinal);
        Assert.Contains("declared as 4 × F32, but as 2 × F32 by tensor 'a'", error.Message, StringComparison.Ordinal);
        Assert.Equal("b", error.Data[ModelFileError.TensorNameKey]);
    }

    [Fact]
    public void A_view_repeating_one_element_beyond_its_storage_is_refused_before_allocating()
    {
        // One float viewed 400 million times through a zero stride: 1.6 GB from a file of a few hundred bytes.
        MemoryStream stream = Checkpoint([("w", "0", 1, 0, [400_000_000], [0])], ("0", new byte[4]));

        var error = ThrowsWithinLimit(() => PthReader.Read(stream, "stride0.pth"));
        Assert.Contains("stride0.pth", error.Message, StringComparison.Ordinal);
        Assert.Contains("more than the 1 of its storage", error.Message, StringComparison.Ordinal);
        Assert.Equal("w", error.Data[ModelFileError.TensorNameKey]);
    }

    [Fact]
    public void Many_keys_recalling_one_memoized_view_are_bounded_by_the_file()
    {
        // A view of all but the first element of a 256 KB storage, memoized once and recalled under 300 keys: each key
        // copied the view, 77 MB in all.
        byte[] pickle = MemoizedViewUnder(300, offset: 1, 65_535);
        MemoryStream stream = Archive(("archive/data.pkl", pickle, CompressionLevel.NoCompression), ("archive/data/0", new byte[65_536 * 4], CompressionLevel.NoCompression));

        var error = ThrowsWithinLimit(() => PthReader.Read(stream, "memo.pth"));
        Assert.Contains("memo.pth", error.Message, StringComparison.Ordinal);
        Assert.Contains($"{PthReader.MaxExpansion} × the file", error.Message, StringComparison.Ordinal);
        Assert.NotNull(error.Data[ModelFileError.TensorNameKey]);
    }

    [Fact]
    public void Many_keys_viewing_a_whole_storage_share_its_bytes()
    {
        // Tied weights taken to the extreme: the storage is read once and every key's tensor is its bytes, uncopied.
        float[] values = Enumerable.Range(0, 65_536).Select(i => (float)i).ToArray();
        byte[] pickle = MemoizedViewUnder(300, offset: 0, 65_536);
        MemoryStream stream = Archive(("archive/data.pkl", pickle, CompressionLevel.NoCompression),
            ("archive/data/0", MemoryMarshal.AsBytes(values.AsSpan()).ToArray(), CompressionLevel.NoCompression));

        long before = GC.GetAllocatedBytesForCurrentThread();
        IReadOnlyList<TensorData> tensors = PthReader.Read(stream, "tied.pth");
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(300, tensors.Count);
        Assert.Equal(values, tensors[^1].ToFloatArray());
        Assert.True(allocated < 8 * values.Length * sizeof(float), $"reading took {allocated} bytes for a 256 KB storage");
    }

    // ---- .pth: entries larger than the file can hold ----

    [Fact]
    public void An_entry_declaring_two_gigabytes_in_a_tiny_file_is_refused_before_allocating()
    {
        const int declared = 0x7FFF_FFC0; // just under the largest array
        MemoryStream stream = Checkpoint([("w", "0", declared / 4, 0, [declared / 4], [1])], ("0", new byte[64]), CompressionLevel.Optimal);
        byte[] zip = stream.ToArray();
        BinaryPrimitives.WriteInt32LittleEndian(zip.AsSpan(CentralRecord(zip, "archive/data/0") + 24), declared);

        var error = ThrowsWithinLimit(() => PthReader.Read(new MemoryStream(zip), "declared.pth"));
        Assert.Contains("declared.pth", error.Message, StringComparison.Ordinal);
        Assert.Contains($"{PthReader.MaxExpansion} × the file", error.Message, StringComparison.Ordinal);
        Assert.Equal("w", error.Data[ModelFileError.TensorNameKey]);
    }

    [Fact]
    public void A_deflated_storage_of_improbable_ratio_is_refused_before_inflating()
    {
        // 16 MB of zeros deflate to about 16 KB; the file is a thousandth of what it would unpack to.
        const int bytes = 16 << 20;
        var stream = new MemoryStream();
        using (var archive = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true))
        {
            Add(archive, "archive/data.pkl", StateDict(("w", "0", bytes / 4, 0, [bytes / 4], [1])), CompressionLevel.NoCompression);
            using Stream entry = archive.CreateEntry("archive/data/0", CompressionLevel.Optimal).Open();
            var zeros = new byte[1 << 20];
            for (int i = 0; i < bytes / zeros.Length; i++)
                entry.Write(zeros);
        }
        stream.Position = 0;

        var error = ThrowsWithinLimit(() => PthReader.Read(stream, "bomb.pth"));
        Assert.Contains("bomb.pth", error.Message, StringComparison.Ordinal);
        Assert.Contains($"{PthReader.MaxExpansion} × the file", error.Message, StringComparison.Ordinal);
        Assert.Equal("w", error.Data[ModelFileError.TensorNameKey]);
    }

    // ---- .pth: the pickle machine ----

    [Fact]
    public void A_deflated_pickle_of_millions_of_opcodes_is_refused_before_it_runs()
    {
        // EMPTY_DICT, BINPUT 0, then BINGET 0 four million times: 8 MB that deflate to a few kilobytes.
        byte[] pickle = RecallMany(4_000_000);
        MemoryStream stream = Archive(("archive/data.pkl", pickle, CompressionLevel.Optimal));

        var error = ThrowsWithinLimit(() => PthReader.Read(stream, "opcodes.pth"));
        Assert.Contains("opcodes.pth", error.Message, StringComparison.Ordinal);
        Assert.Contains("data.pkl", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_pickle_stack_beyond_its_bound_is_refused()
    {
        byte[] pickle = RecallMany(PickleReader.MaxStackDepth + 1);
        MemoryStream stream = Archive(("archive/data.pkl", pickle, CompressionLevel.NoCompression));

        var error = ThrowsWithinLimit(() => PthReader.Read(stream, "stack.pth"));
        Assert.Contains("stack.pth", error.Message, StringComparison.Ordinal);
        Assert.Contains($"more than {PickleReader.MaxStackDepth} values", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_pickle_building_a_container_per_byte_is_refused_within_a_small_multiple_of_its_size()
    {
        // PROTO 2, EMPTY_LIST, then EMPTY_DICT APPEND pairs: one ~100-byte dict per two bytes of the file.
        const int dicts = 400_000;
        var pickle = new byte[3 + 2 * dicts + 1];
        pickle[0] = 0x80;
        pickle[1] = 2;
        pickle[2] = (byte)']';
        for (int i = 0; i < dicts; i++)
        {
            pickle[3 + 2 * i] = (byte)'}';
            pickle[4 + 2 * i] = (byte)'a';
        }
        pickle[^1] = (byte)'.';
        MemoryStream stream = Archive(("archive/data.pkl", pickle, CompressionLevel.NoCompression));
        long size = stream.Length;

        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<InvalidDataException>(() => PthReader.Read(stream, "dicts.pth"));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains("dicts.pth", error.Message, StringComparison.Ordinal);
        Assert.Contains("containers", error.Message, StringComparison.Ordinal);
        Assert.True(allocated < 32 * size, $"the failed read allocated {allocated} bytes for a {size}-byte file");
    }

    // ---- helpers ----

    private static InvalidDataException ThrowsWithinLimit(Func<object> read)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<InvalidDataException>(() => read());
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < AllocationLimit, $"the failed read allocated {allocated} bytes");
        return error;
    }

    private static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    /// <summary>A safetensors file: the 8-byte header length, <paramref name="header"/>, <paramref name="data"/>.</summary>
    private static byte[] Safetensors(byte[] header, byte[] data)
    {
        var file = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)header.Length);
        header.CopyTo(file, 8);
        data.CopyTo(file, 8 + header.Length);
        return file;
    }

    /// <summary>A tensor of a state dict: a view of float storage <paramref name="Key"/> declared as <paramref name="Numel"/> elements.</summary>
    private readonly record struct View(string Name, string Key, long Numel, long Offset, long[] Shape, long[] Stride)
    {
        public static implicit operator View((string Name, string Key, long Numel, long Offset, long[] Shape, long[] Stride) v) =>
            new(v.Name, v.Key, v.Numel, v.Offset, v.Shape, v.Stride);
    }

    /// <summary>A checkpoint of one view over storage "0" holding the bytes it declares (zeros).</summary>
    private static MemoryStream Checkpoint(View view) => Checkpoint([view], ("0", new byte[view.Numel * 4]));

    private static MemoryStream Checkpoint(View[] views, (string Key, byte[] Bytes) storage, CompressionLevel storageLevel = CompressionLevel.NoCompression) =>
        Archive(("archive/data.pkl", StateDict(views), CompressionLevel.NoCompression), ($"archive/data/{storage.Key}", storage.Bytes, storageLevel));

    private static MemoryStream Archive(params (string Name, byte[] Bytes, CompressionLevel Level)[] entries)
    {
        var stream = new MemoryStream();
        using (var archive = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach ((string name, byte[] bytes, CompressionLevel level) in entries)
                Add(archive, name, bytes, level);
        }
        stream.Position = 0;
        return stream;
    }

    private static void Add(ZipArchive archive, string name, byte[] bytes, CompressionLevel level)
    {
        using Stream entry = archive.CreateEntry(name, level).Open();
        entry.Write(bytes);
    }

    /// <summary>Where the central directory record of <paramref name="name"/> starts.</summary>
    private static int CentralRecord(byte[] zip, string name) => FindRecord(zip, 0x02014b50, 28, 46, name);

    /// <summary>Where the data of <paramref name="name"/> starts, after its local header.</summary>
    private static int LocalData(byte[] zip, string name)
    {
        int header = FindRecord(zip, 0x04034b50, 26, 30, name);
        return header + 30 + BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(header + 26)) + BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(header + 28));
    }

    private static int FindRecord(byte[] zip, uint signature, int nameLengthAt, int nameAt, string name)
    {
        for (int i = 0; i + nameAt <= zip.Length; i++)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(i)) != signature)
                continue;
            int length = BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(i + nameLengthAt));
            if (i + nameAt + length <= zip.Length && Encoding.ASCII.GetString(zip, i + nameAt, length) == name)
                return i;
        }
        throw new InvalidOperationException($"no record of '{name}' in the test archive");
    }

    // Pickle protocol 2, written opcode by opcode.

    /// <summary>{name: _rebuild_tensor_v2(('storage', FloatStorage, key, 'cpu', numel), offset, shape, stride, False, OrderedDict()), …}</summary>
    private static byte[] StateDict(params View[] views)
    {
        var pickle = new List<byte> { 0x80, 2, (byte)'}', (byte)'(' };
        foreach (View view in views)
        {
            pickle.AddRange(Unicode(view.Name));
            pickle.AddRange(Rebuild(view));
        }
        pickle.AddRange(Ascii("u."));
        return [.. pickle];
    }

    /// <summary>{"t0": v, "t1": v, …}: one view of storage "0" (as 65,536 floats), memoized at its first key and recalled at the others.</summary>
    private static byte[] MemoizedViewUnder(int keys, long offset, long count)
    {
        var pickle = new List<byte> { 0x80, 2, (byte)'}', (byte)'(' };
        pickle.AddRange(Unicode("t0"));
        pickle.AddRange(Rebuild(new View("t0", "0", 65_536, offset, [count], [1])));
        pickle.AddRange([(byte)'q', 1]); // BINPUT 1
        for (int i = 1; i < keys; i++)
        {
            pickle.AddRange(Unicode($"t{i}"));
            pickle.AddRange([(byte)'h', 1]); // BINGET 1
        }
        pickle.AddRange(Ascii("u."));
        return [.. pickle];
    }

    /// <summary>EMPTY_DICT BINPUT 0, then <paramref name="count"/> × BINGET 0, with no STOP.</summary>
    private static byte[] RecallMany(int count)
    {
        var pickle = new byte[5 + 2 * count];
        pickle[0] = 0x80;
        pickle[1] = 2;
        pickle[2] = (byte)'}';
        pickle[3] = (byte)'q';
        for (int i = 0; i < count; i++)
            pickle[5 + 2 * i] = (byte)'h';
        return pickle;
    }

    private static byte[] Rebuild(View view) =>
    [
        .. Ascii("ctorch._utils\n_rebuild_tensor_v2\n(("), .. Unicode("storage"), .. Ascii("ctorch\nFloatStorage\n"),
        .. Unicode(view.Key), .. Unicode("cpu"), .. Integer(view.Numel), (byte)'t', (byte)'Q',
        .. Integer(view.Offset), .. Tuple(view.Shape), .. Tuple(view.Stride), 0x89, .. Ascii("ccollections\nOrderedDict\n)Rt"), (byte)'R',
    ];

    private static byte[] Unicode(string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        return [(byte)'X', .. BitConverter.GetBytes(bytes.Length), .. bytes];
    }

    /// <summary>LONG1 of 8 bytes.</summary>
    private static byte[] Integer(long value) => [0x8a, 8, .. BitConverter.GetBytes(value)];

    private static byte[] Tuple(long[] values) => [(byte)'(', .. values.SelectMany(Integer), (byte)'t'];
}
