using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;
using RwkvQuant.Formats;
using RwkvQuant.Formats.Pth;

namespace RwkvQuant.Tests.Formats.Pth;

public class PthReaderTests
{
    // (file, tensor count, first key, last key, embedding shape) as listed by Python's pickletools over data.pkl.
    public static TheoryData<string, int, string, string, long[]> FixtureFiles => new()
    {
        { "251016_rosa_1bit_run.pth", 10, "e.weight", "o.bias", [11, 32] },
        { "251018_rosa_4bit_run.pth", 18, "e.weight", "o.bias", [11, 64] },
        { "251024_rosaQKV_L2_digit20.pth", 99, "e.weight", "o.bias", [13, 128] },
        { "251105_reverse_L2.pth", 99, "e.weight", "o.bias", [12, 32] },
        { "260123_reverse_L2.pth", 99, "e.weight", "o.bias", [12, 32] },
        { "260123_reverse_L2_only_rwkv7.pth", 99, "e.weight", "o.bias", [12, 32] },
    };

    [FixtureTheory]
    [MemberData(nameof(FixtureFiles))]
    public void Reads_every_fixture_checkpoint(string file, int count, string first, string last, long[] embeddingShape)
    {
        IReadOnlyList<TensorData> tensors = PthReader.Read(Fixtures.Path("pth", file));
        Assert.Equal(count, tensors.Count);
        Assert.Equal(first, tensors[0].Name);
        Assert.Equal(last, tensors[^1].Name);
        Assert.Equal(embeddingShape, tensors[0].Shape);
        Assert.All(tensors, t => Assert.Equal(TensorDataType.F32, t.Type));
        Assert.Equal(count, tensors.Select(t => t.Name).Distinct().Count());
        Assert.All(tensors, t => Assert.All(t.ToFloatArray(), v => Assert.True(float.IsFinite(v), $"{t.Name} has {v}")));
    }

    [FixtureFact]
    public void Rwkv7_rosa_checkpoint_has_the_expected_shapes_and_values()
    {
        IReadOnlyList<TensorData> tensors = PthReader.Read(Fixtures.Path("pth", "260123_reverse_L2.pth"));
        TensorData Get(string name) => tensors.Single(t => t.Name == name);
        Assert.Equal([1L, 1, 32], Get("rwkv1.x_r").Shape);
        Assert.Equal([32L, 8], Get("rwkv2.w1").Shape);
        Assert.Equal([2L, 16], Get("rwkv1.r_k").Shape);
        Assert.Equal([128L, 32], Get("ffn2.key.weight").Shape);
        Assert.Equal([12L], Get("o.bias").Shape);
        // The first values of storage 33 (rosa1.x_q) as Python's struct module reads them.
        float[] xq = Get("rosa1.x_q").ToFloatArray();
        Assert.Equal(0.4951106011867523f, xq[0]);
        Assert.Equal(0.5074581503868103f, xq[1]);
    }

    [Fact]
    public void Reads_a_file_written_by_pytorch_with_views_nested_dicts_and_every_dtype()
    {
        // Formats/Data/torch-views.pth: written by torch.save (1.13.1) with make-torch-views.py beside it.
        string path = Path.Combine(AppContext.BaseDirectory, "Formats", "Data", "torch-views.pth");
        IReadOnlyList<TensorData> read = PthReader.Read(path);
        Assert.Equal(
            ["model.base", "model.transposed", "model.slice", "model.f16", "model.bf16", "model.f64", "model.i64", "model.i32", "model.u8", "model.bool", "model.param"],
            read.Select(t => t.Name));
        TensorData Get(string name) => read.Single(t => t.Name == "model." + name);
        float[] arange = Enumerable.Range(0, 24).Select(i => (float)i).ToArray();
        Assert.Equal(arange, Get("base").ToFloatArray());
        Assert.Equal([6L, 4], Get("transposed").Shape);
        Assert.Equal(Enumerable.Range(0, 24).Select(i => (float)(i % 4 * 6 + i / 4)), Get("transposed").ToFloatArray());
        Assert.Equal([8f, 9, 10, 14, 15, 16], Get("slice").ToFloatArray());
        Assert.Equal(TensorDataType.F16, Get("f16").Type);
        Assert.Equal([0f, 1, 2, 3, 4, 5], Get("f16").ToFloatArray());
        Assert.Equal(TensorDataType.BF16, Get("bf16").Type);
        Assert.Equal([1.5f, -2.25f], Get("bf16").ToFloatArray());
        Assert.Equal([0.125f], Get("f64").ToFloatArray());
        Assert.Empty(Get("i64").Shape);
        Assert.Equal(7L, BitConverter.ToInt64(Get("i64").Bytes));
        Assert.Equal([-3, 4], MemoryMarshal.Cast<byte, int>(Get("i32").Bytes).ToArray());
        Assert.Equal([1, 2, 255], Get("u8").Bytes.ToArray());
        Assert.Equal(TensorDataType.Bool, Get("bool").Type);
        Assert.Equal([1, 0], Get("bool").Bytes.ToArray());
        Assert.Equal([1f, 1f], Get("param").ToFloatArray());
    }

    [Fact]
    public void Round_trips_a_model_written_by_the_independent_encoder()
    {
        var random = new Random(7);
        TensorData Random(string name, TensorDataType type, params long[] shape)
        {
            var bytes = new byte[shape.Aggregate(1L, (a, b) => a * b) * type.SizeOf()];
            random.NextBytes(bytes);
            return new TensorData(name, type, shape, bytes);
        }
        TensorData[] tensors =
        [
            Random("emb.weight", TensorDataType.F32, 5, 3),
            Random("blocks.0.att.key.weight", TensorDataType.F16, 3, 3),
            Random("blocks.0.att.x_r", TensorDataType.BF16, 1, 1, 3),
            Random("head.weight", TensorDataType.F64, 5, 3),
            Random("step", TensorDataType.I64),
            Random("codes", TensorDataType.U8, 0),
            Random("ints", TensorDataType.I32, 4),
            Random("bytes", TensorDataType.I8, 2),
            Random("shorts", TensorDataType.I16, 2),
            new TensorData("mask", TensorDataType.Bool, [3], [1, 0, 1]),
        ];
        using var stream = new MemoryStream();
        PthWriter.Write(stream, tensors);
        stream.Position = 0;
        IReadOnlyList<TensorData> read = PthReader.Read(stream, "written.pth");
        Assert.Equal(tensors.Select(t => t.ToString()), read.Select(t => t.ToString()));
        for (int i = 0; i < tensors.Length; i++)
            Assert.Equal(tensors[i].Bytes.ToArray(), read[i].Bytes.ToArray());

        stream.Position = 0;
        using var archive = new ZipArchive(stream, ZipArchiveMode.Read);
        Assert.Equal(["archive/data.pkl", "archive/byteorder", "archive/data/0"], archive.Entries.Take(3).Select(e => e.FullName));
        Assert.NotNull(archive.GetEntry("archive/version"));
    }

    [Fact]
    public void Views_with_offsets_and_strides_are_gathered()
    {
        float[] values = [0, 1, 2, 3, 4, 5];
        (TensorDataType, byte[])[] storages = [(TensorDataType.F32, MemoryMarshal.AsBytes(values.AsSpan()).ToArray())];
        PthWriter.View[] views =
        [
            new("transposed", 0, 0, [3, 2], [1, 3]),  // t[i, j] = s[i + 3j]
            new("strided", 0, 1, [2], [2]),           // s[1], s[3]
            new("row", 0, 3, [1, 3], [3, 1]),         // s[3..6]
            new("broadcast", 0, 2, [2, 2], [0, 1]),   // s[2], s[3] twice
        ];
        using var stream = new MemoryStream();
        PthWriter.Write(stream, storages, views);
        stream.Position = 0;
        IReadOnlyList<TensorData> read = PthReader.Read(stream, "views.pth");
        Assert.Equal([0f, 3, 1, 4, 2, 5], read[0].ToFloatArray());
        Assert.Equal([1f, 3], read[1].ToFloatArray());
        Assert.Equal([3f, 4, 5], read[2].ToFloatArray());
        Assert.Equal([2f, 3, 2, 3], read[3].ToFloatArray());
    }

    [Theory]
    [InlineData(0, new long[] { 3, 2 }, new long[] { 3, 1 }, "outside the storage")] // reaches element 7 of 6
    [InlineData(5, new long[] { 2 }, new long[] { 1 }, "outside the storage")]
    [InlineData(-1, new long[] { 2 }, new long[] { 1 }, "outside the storage")]
    [InlineData(0, new long[] { -2 }, new long[] { 1 }, "negative")]
    [InlineData(0, new long[] { 2, 2 }, new long[] { long.MaxValue, 1 }, "overflows")]
    public void Views_outside_their_storage_are_rejected_naming_the_tensor(long offset, long[] shape, long[] stride, string fragment)
    {
        (TensorDataType, byte[])[] storages = [(TensorDataType.F32, new byte[24])];
        using var stream = new MemoryStream();
        PthWriter.Write(stream, storages, [new PthWriter.View("bad.weight", 0, offset, shape, stride)]);
        stream.Position = 0;
        var error = Assert.Throws<InvalidDataException>(() => PthReader.Read(stream, "views.pth"));
        Assert.Contains("views.pth", error.Message, StringComparison.Ordinal);
        Assert.Contains(fragment, error.Message, StringComparison.Ordinal);
        Assert.Equal("bad.weight", error.Data[ModelFileError.TensorNameKey]);
    }

    [Fact]
    public void A_tensor_under_an_empty_key_is_rejected_naming_the_file()
    {
        // Found by rwkvquant-fuzz (a pickle string mutated to ''): TensorData refused the name with an ArgumentException.
        (TensorDataType, byte[])[] storages = [(TensorDataType.F32, new byte[8])];
        using var stream = new MemoryStream();
        PthWriter.Write(stream, storages, [new PthWriter.View("", 0, 0, [2], [1])]);
        stream.Position = 0;
        var error = Assert.Throws<InvalidDataException>(() => PthReader.Read(stream, "empty-key.pth"));
        Assert.Contains("empty-key.pth", error.Message, StringComparison.Ordinal);
        Assert.Contains("empty key", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Nested_state_dicts_are_flattened_with_dotted_keys()
    {
        // {"model": OrderedDict{"w": tensor}} written by hand: PROTO 2, EMPTY_DICT, key, OrderedDict(), MARK key tensor SETITEMS, SETITEM, STOP
        var pickle = new List<byte> { 0x80, 2, (byte)'}' };
        pickle.AddRange(Unicode("model"));
        pickle.AddRange(Ascii("ccollections\nOrderedDict\n)R("));
        pickle.AddRange(Unicode("w"));
        pickle.AddRange(TensorCall("0", numel: 2, shape: 2));
        pickle.AddRange(Ascii("us."));
        IReadOnlyList<TensorData> read = PthReader.Read(Archive([.. pickle], new() { ["0"] = new byte[8] }), "nested.pth");
        Assert.Equal("model.w", read.Single().Name);
    }

    public static TheoryData<byte[], string> BadPickles => new()
    {
        { [0x80, 2, 0x00], "offset 2: unsupported pickle opcode 0x00" },
        { [0x80, 2, .. Ascii("cos\nsystem\n")], "'os.system' is not allowed" },
        { [0x80, 2, .. Ascii("cbuiltins\neval\n")], "not allowed" },
        { [0x80, 2, (byte)'X', 0xFF, 0xFF, 0, 0], "ends inside an opcode" },
        { [0x80, 2, (byte)'}'], "ends inside an opcode" },                    // no STOP
        { [0x80, 2, (byte)'h', 9], "memo entry 9" },
        { [0x80, 2, (byte)'s'], "stack underflow" },
        { [0x80, 2, (byte)'N', (byte)'.'], "not a dict of tensors" },
        { [0x80, 2, (byte)'}', .. Unicode("x"), (byte)'K', 1, (byte)'s', (byte)'.'], "not a tensor" },
        { [0x80, 2, (byte)'}', .. Unicode("x"), .. Ascii("(X\u0007\0\0\0storagectorch\nEvilStorage\n")], "not allowed" },
        { [0x80, 9], "protocol 9" },
    };

    [Theory]
    [MemberData(nameof(BadPickles))]
    public void Hostile_pickles_are_rejected_naming_the_file(byte[] pickle, string fragment)
    {
        var error = Assert.Throws<InvalidDataException>(() => PthReader.Read(Archive(pickle, []), "hostile.pth"));
        Assert.Contains("hostile.pth", error.Message, StringComparison.Ordinal);
        Assert.Contains(fragment, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(8, true, null)]
    [InlineData(4, true, "holds 4 bytes")]
    [InlineData(8, false, "missing")]
    public void Storage_files_must_exist_and_match_their_element_count(int bytes, bool present, string? fragment)
    {
        var pickle = new List<byte> { 0x80, 2, (byte)'}' };
        pickle.AddRange(Unicode("w"));
        pickle.AddRange(TensorCall("0", numel: 2, shape: 2));
        pickle.AddRange(Ascii("s."));
        Dictionary<string, byte[]> storages = present ? new() { ["0"] = new byte[bytes] } : [];
        if (fragment is null)
        {
            Assert.Equal([0f, 0f], PthReader.Read(Archive([.. pickle], storages), "s.pth").Single().ToFloatArray());
            return;
        }
        var error = Assert.Throws<InvalidDataException>(() => PthReader.Read(Archive([.. pickle], storages), "s.pth"));
        Assert.Contains(fragment, error.Message, StringComparison.Ordinal);
        Assert.Equal("w", error.Data[ModelFileError.TensorNameKey]);
    }

    [Fact]
    public void Not_a_zip_and_big_endian_are_rejected()
    {
        var error = Assert.Throws<InvalidDataException>(() => PthReader.Read(new MemoryStream(new byte[100]), "legacy.pth"));
        Assert.Contains("legacy.pth", error.Message, StringComparison.Ordinal);

        using var stream = new MemoryStream();
        using (var archive = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true))
        {
            Add(archive, "m/data.pkl", [0x80, 2, (byte)'}', (byte)'.']);
            Add(archive, "m/byteorder", Encoding.ASCII.GetBytes("big"));
        }
        stream.Position = 0;
        error = Assert.Throws<InvalidDataException>(() => PthReader.Read(stream, "big.pth"));
        Assert.Contains("big-endian", error.Message, StringComparison.Ordinal);
    }

    private static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    private static byte[] Unicode(string text) => [(byte)'X', (byte)text.Length, 0, 0, 0, .. Encoding.ASCII.GetBytes(text)];

    /// <summary>_rebuild_tensor_v2(('storage', FloatStorage, key, 'cpu', numel), 0, (shape,), (1,), False, OrderedDict()) with REDUCE.</summary>
    private static byte[] TensorCall(string key, byte numel, byte shape) =>
    [
        .. Ascii("ctorch._utils\n_rebuild_tensor_v2\n(("), .. Unicode("storage"), .. Ascii("ctorch\nFloatStorage\n"),
        .. Unicode(key), .. Unicode("cpu"), (byte)'K', numel, (byte)'t', (byte)'Q',
        (byte)'K', 0, (byte)'K', shape, 0x85, (byte)'K', 1, 0x85, 0x89, .. Ascii("ccollections\nOrderedDict\n)Rt"), (byte)'R',
    ];

    private static MemoryStream Archive(byte[] pickle, Dictionary<string, byte[]> storages)
    {
        var stream = new MemoryStream();
        using (var archive = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true))
        {
            Add(archive, "model/data.pkl", pickle);
            foreach ((string key, byte[] bytes) in storages)
                Add(archive, $"model/data/{key}", bytes);
        }
        stream.Position = 0;
        return stream;
    }

    private static void Add(ZipArchive archive, string name, byte[] bytes)
    {
        using Stream entry = archive.CreateEntry(name).Open();
        entry.Write(bytes);
    }
}
