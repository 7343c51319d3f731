using System.Buffers.Binary;
using System.Text;
using RwkvQuant.Formats;
using RwkvQuant.Formats.Safetensors;

namespace RwkvQuant.Tests.Formats.Safetensors;

public sealed class SafetensorsTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("rwkvquant-safetensors-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    public static TheoryData<TensorDataType> AllTypes => new(Enum.GetValues<TensorDataType>());

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void Every_dtype_round_trips_with_scalar_empty_and_odd_shapes(TensorDataType type)
    {
        var random = new Random(1234 + (int)type);
        TensorData Make(string name, params long[] shape)
        {
            long count = shape.Aggregate(1L, (a, b) => a * b);
            var bytes = new byte[count * type.SizeOf()];
            random.NextBytes(bytes);
            if (type == TensorDataType.Bool)
                for (int i = 0; i < bytes.Length; i++)
                    bytes[i] &= 1;
            return new TensorData(name, type, shape, bytes);
        }
        TensorData[] tensors =
        [
            Make("scalar"),
            Make("empty", 0),
            Make("empty.2d", 3, 0),
            Make("vector", 7),
            Make("blocks.0.att.key.weight", 3, 5),
            Make("cube", 2, 3, 1),
        ];
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode \"quoted\" + <tags>" };
        string path = Path.Combine(_folder, $"{type}.safetensors");

        SafetensorsWriter.Write(path, tensors, metadata);
        SafetensorsFile file = SafetensorsReader.Read(path);

        Assert.Equal(metadata, file.Metadata);
        Assert.Equal(tensors.Length, file.Tensors.Count);
        // Zero-byte tensors share an offset with their neighbour, so compare by name; order must match for the rest.
        Assert.Equal(tensors.Where(t => t.ElementCount > 0).Select(t => t.Name), file.Tensors.Where(t => t.ElementCount > 0).Select(t => t.Name));
        foreach (TensorData expected in tensors)
        {
            TensorData actual = file.Tensors.Single(t => t.Name == expected.Name);
            Assert.Equal(expected.Type, actual.Type);
            Assert.Equal(expected.Shape, actual.Shape);
            Assert.Equal(expected.Bytes.ToArray(), actual.Bytes.ToArray());
        }
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(File.ReadAllBytes(path));
        Assert.Equal(0, (8 + headerLength) % 8);
        Assert.Single(Directory.GetFiles(_folder)); // no temporary file left behind
    }

    [Fact]
    public void Writer_output_matches_hand_computed_bytes()
    {
        TensorData[] tensors =
        [
            TensorData.FromFloats("a", [2], [1f, -2f]),
            new TensorData("b", TensorDataType.U8, [3], [7, 8, 9]),
        ];
        using var stream = new MemoryStream();
        SafetensorsWriter.Write(stream, tensors, new Dictionary<string, string> { ["k"] = "v" });

        const string json = "{\"__metadata__\":{\"k\":\"v\"},"
            + "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
            + "\"b\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[8,11]}}";
        Assert.Equal(132, json.Length);         // 132 bytes of JSON → 4 spaces make 136, a multiple of 8
        var expected = new List<byte> { 136, 0, 0, 0, 0, 0, 0, 0 };
        expected.AddRange(Encoding.ASCII.GetBytes(json + "    "));
        expected.AddRange([0x00, 0x00, 0x80, 0x3F]); // 1.0f
        expected.AddRange([0x00, 0x00, 0x00, 0xC0]); // −2.0f
        expected.AddRange([7, 8, 9]);
        Assert.Equal(expected.ToArray(), stream.ToArray());

        stream.Position = 0;
        SafetensorsFile file = SafetensorsReader.Read(stream, "golden.safetensors");
        Assert.Equal([1f, -2f], file.Tensors[0].ToFloatArray());
        Assert.Equal("v", file.Metadata["k"]);
    }

    [Fact]
    public void Reads_a_hand_made_file_with_unsorted_header_in_data_order()
    {
        byte[] bytes = Build("{\"y\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[4,6]},\"x\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}",
            [0x80, 0x3F, 0x00, 0xC0, 0xFE, 0xFF]);
        SafetensorsFile file = SafetensorsReader.Read(new MemoryStream(bytes), "hand.safetensors");
        Assert.Equal(["x", "y"], file.Tensors.Select(t => t.Name));
        Assert.Equal([1f, -2f], file.Tensors[0].ToFloatArray());
        Assert.Equal(-2, BinaryPrimitives.ReadInt16LittleEndian(file.Tensors[1].Bytes));
        Assert.Empty(file.Metadata);
    }

    public static TheoryData<string, string, string?> BadHeaders => new()
    {
        { "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "past the", "t" },           // data section is 4 bytes
        { "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", "end before", "t" },
        { "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", "needs 8", "t" },
        { "{\"t\":{\"dtype\":\"Q9\",\"shape\":[1],\"data_offsets\":[0,4]}}", "unknown dtype", "t" },
        { "{\"t\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", "non-negative", "t" },
        { "{\"t\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", "too many", "t" },
        { "{\"t\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", "non-negative integer", "t" },
        { "{\"t\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},\"u\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}", "overlap", "u" },
        { "{\"t\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}", "gap", "t" },
        { "{\"t\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", "cover 2", null },
        { "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "twice", "t" },
        { "{\"t\":{\"shape\":[1],\"data_offsets\":[0,4]}}", "dtype", "t" },
        { "{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}", "data_offsets", "t" },
        { "{\"__metadata__\":{\"k\":1},\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "expected a string", null },
        { "[1,2]", "expected an object", null },
        { "{\"t\":", "not valid JSON", null },
    };

    [Theory]
    [MemberData(nameof(BadHeaders))]
    public void Bad_headers_are_rejected_naming_file_and_tensor(string json, string fragment, string? tensor)
    {
        byte[] bytes = Build(json, new byte[4]);
        var error = Assert.Throws<InvalidDataException>(() => SafetensorsReader.Read(new MemoryStream(bytes), "bad.safetensors"));
        Assert.Contains("bad.safetensors", error.Message, StringComparison.Ordinal);
        Assert.Contains(fragment, error.Message, StringComparison.Ordinal);
        if (tensor is not null)
            Assert.Equal(tensor, error.Data[ModelFileError.TensorNameKey]);
    }

    [Fact]
    public void Header_length_beyond_the_file_or_the_cap_is_rejected_before_allocating()
    {
        var bytes = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 9);
        var error = Assert.Throws<InvalidDataException>(() => SafetensorsReader.Read(new MemoryStream(bytes), "short.safetensors"));
        Assert.Contains("past the end", error.Message, StringComparison.Ordinal);

        BinaryPrimitives.WriteUInt64LittleEndian(bytes, ulong.MaxValue);
        error = Assert.Throws<InvalidDataException>(() => SafetensorsReader.Read(new MemoryStream(bytes), "huge.safetensors"));
        Assert.Contains("limit", error.Message, StringComparison.Ordinal);

        error = Assert.Throws<InvalidDataException>(() => SafetensorsReader.Read(new MemoryStream(new byte[5]), "tiny.safetensors"));
        Assert.Contains("tiny.safetensors", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Truncated_file_names_the_tensor()
    {
        string path = Path.Combine(_folder, "t.safetensors");
        SafetensorsWriter.Write(path, [TensorData.FromFloats("w", [4], [1, 2, 3, 4])]);
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^3]);
        var error = Assert.Throws<InvalidDataException>(() => SafetensorsReader.Read(path));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Equal("w", error.Data[ModelFileError.TensorNameKey]);
    }

    [Fact]
    public void Failed_write_leaves_the_existing_file_and_no_temporary()
    {
        string path = Path.Combine(_folder, "keep.safetensors");
        File.WriteAllText(path, "old");
        TensorData tensor = TensorData.FromFloats("w", [1], [1f]);
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(path, [tensor, tensor]));
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(path, [tensor.WithName("__metadata__")]));
        Assert.Equal("old", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(_folder));

        SafetensorsWriter.Write(path, [tensor]);
        Assert.Equal("w", SafetensorsReader.Read(path).Tensors.Single().Name);
    }

    /// <summary>Length prefix + JSON padded to 8 bytes + data.</summary>
    private static byte[] Build(string json, byte[] data)
    {
        byte[] header = Encoding.UTF8.GetBytes(json.PadRight((json.Length + 7) / 8 * 8));
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        return bytes;
    }

    [Fact]
    public void Open_reads_each_tensor_from_the_file_when_asked_and_gives_the_same_bytes_as_Read()
    {
        var random = new Random(7);
        TensorData Make(string name, TensorDataType type, params long[] shape)
        {
            var bytes = new byte[shape.Aggregate(1L, (a, b) => a * b) * type.SizeOf()];
            random.NextBytes(bytes);
            return new TensorData(name, type, shape, bytes);
        }
        TensorData[] tensors = [Make("a", TensorDataType.F16, 3, 5), Make("b", TensorDataType.F32, 7), Make("empty", TensorDataType.F32, 0), Make("c", TensorDataType.BF16, 2, 2, 2)];
        string path = Path.Combine(_folder, "lazy.safetensors");
        SafetensorsWriter.Write(path, tensors, new Dictionary<string, string> { ["k"] = "v" });

        SafetensorsFile read = SafetensorsReader.Read(path), opened = SafetensorsReader.Open(path);
        Assert.Equal(read.Metadata, opened.Metadata);
        Assert.All(read.Tensors, t => Assert.False(t.IsFileBacked));
        Assert.All(opened.Tensors, t => Assert.True(t.IsFileBacked));
        Assert.Equal(read.Tensors.Select(t => t.ToString()), opened.Tensors.Select(t => t.ToString()));
        for (int i = 0; i < read.Tensors.Count; i++)
        {
            TensorData lazy = opened.Tensors[i];
            Assert.Equal(read.Tensors[i].Bytes.ToArray(), lazy.Bytes.ToArray());
            Assert.Equal(lazy.ByteCount, lazy.Bytes.Length);
            TensorData loaded = lazy.InMemory();
            Assert.False(loaded.IsFileBacked);
            Assert.Equal(lazy.Bytes.ToArray(), loaded.Bytes.ToArray());
            Assert.True(lazy.WithName("renamed").IsFileBacked);
        }
    }

    [Fact]
    public void An_opened_file_keeps_reading_the_original_after_another_is_renamed_over_it_and_a_truncation_is_named()
    {
        string path = Path.Combine(_folder, "model.safetensors");
        SafetensorsWriter.Write(path, [TensorData.FromFloats("w", [4], [1f, 2f, 3f, 4f])]);
        SafetensorsFile opened = SafetensorsReader.Open(path);
        SafetensorsWriter.Write(path, [TensorData.FromFloats("w", [4], [9f, 9f, 9f, 9f])]); // atomic: a new file renamed over the path
        Assert.Equal([1f, 2f, 3f, 4f], opened.Tensors[0].ToFloatArray());

        string other = Path.Combine(_folder, "truncated.safetensors");
        SafetensorsWriter.Write(other, [TensorData.FromFloats("first", [2], [1f, 2f]), TensorData.FromFloats("second", [1000], new float[1000])]);
        SafetensorsFile truncated = SafetensorsReader.Open(other);
        using (var stream = new FileStream(other, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
            stream.SetLength(stream.Length - 100);
        var error = Assert.Throws<InvalidDataException>(() => truncated.Tensors.Single(t => t.Name == "second").ToFloatArray());
        Assert.Contains(other, error.Message);
        Assert.Contains("second", error.Message);
    }
}
