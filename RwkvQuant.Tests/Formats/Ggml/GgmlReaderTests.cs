using System.Buffers.Binary;
using System.Text;
using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;

namespace RwkvQuant.Tests.Formats.Ggml;

public class GgmlReaderTests
{
    [FixtureFact]
    public void Reads_the_v7_fp32_fixture_header_and_records()
    {
        var (header, tensors) = GgmlReader.Read(Fixtures.Path("rwkvcpp", "tiny-rwkv-7v0-834K-FP32.bin"));
        Assert.Equal(101, header.FileVersion);
        Assert.Equal(256, header.VocabularySize);
        Assert.Equal(64, header.EmbeddingSize);
        Assert.Equal(12, header.LayerCount);
        Assert.Equal(GgmlType.F32, header.DataType);
        GgmlTensor embedding = tensors.Single(t => t.Name == "emb.weight");
        Assert.Equal(new long[] { 256, 64 }, embedding.Shape);
    }

    [Fact]
    public void Rejects_a_wrong_magic_naming_the_file()
    {
        using var stream = new MemoryStream(new byte[64]);
        var error = Assert.Throws<InvalidDataException>(() => GgmlReader.Read(stream, "bad.bin"));
        Assert.Contains("bad.bin", error.Message, StringComparison.Ordinal);
        Assert.Contains("magic", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Reads_a_hand_built_file_with_a_quantized_record()
    {
        byte[] block = new byte[34];
        block[0] = 0x00; block[1] = 0x3C; // Q8_0 d = 1
        block[2] = 5;
        byte[] file = Build(Header(), Record([32], 9, "w", block));
        var (header, tensors) = GgmlReader.Read(new MemoryStream(file), "ok.bin");
        Assert.Equal(GgmlType.Q8_0, header.DataType);
        Assert.Equal(5f, tensors.Single().ToTensorData().ToFloatArray()[0]);
    }

    public static TheoryData<string, byte[], string, string?> BadFiles => new()
    {
        { "truncated header", Header()[..20], "shorter than", null },
        { "wrong version", Header(version: 7), "version 7", null },
        { "version 100 quantized", Build(Header(version: 100), Record([32], 2, "w", new byte[18])), "version 100", "w" },
        { "unknown header type", Header(type: 4), "unknown data type 4", null },
        { "zero vocabulary", Header(vocabulary: 0), "non-positive", null },
        { "unknown record type", Build(Header(), Record([4], 5, "w", new byte[16])), "unknown ggml data type 5", "w" },
        { "truncated data", Build(Header(), Record([4], 0, "w", new byte[16]))[..^1], "truncated", "w" },
        { "absurd dims", Build(Header(), Record([int.MaxValue, int.MaxValue], 0, "w", [])), "more than", "w" },
        { "huge but countable dims", Build(Header(), Record([1 << 20, 1 << 10], 0, "w", [])), "truncated", "w" },
        { "negative dim", Build(Header(), Record([-4], 0, "w", [])), "dimension -4", null },
        { "five dims", Build(Header(), Record([1, 1, 1, 1, 1], 0, "w", new byte[4])), "5 dimensions", null },
        { "absurd key length", Build(Header(), Int32s(1, 1 << 30, 0, 4)), "key of 1073741824 bytes", null },
        { "truncated key", Build(Header(), Int32s(1, 10, 0, 4), Encoding.ASCII.GetBytes("abc")), "inside the key", null },
        { "truncated record header", Build(Header(), Int32s(1, 1)), "file ends inside", null },
        { "partial block", Build(Header(), Record([16], 9, "w", new byte[34])), "multiple of 32", "w" },
        { "duplicate key", Build(Header(), Record([1], 0, "w", new byte[4]), Record([1], 0, "w", new byte[4])), "twice", "w" },
    };

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void Bad_files_are_rejected_naming_file_and_tensor(string description, byte[] file, string fragment, string? tensor)
    {
        var error = Assert.Throws<InvalidDataException>(() => GgmlReader.Read(new MemoryStream(file), "bad.bin"));
        Assert.Contains("bad.bin", error.Message, StringComparison.Ordinal);
        Assert.True(error.Message.Contains(fragment, StringComparison.Ordinal), $"{description}: {error.Message}");
        Assert.Equal(tensor, error.Data[ModelFileError.TensorNameKey]);
    }

    [FixtureFact]
    public void Every_truncation_of_a_real_file_is_rejected_cleanly()
    {
        byte[] file = File.ReadAllBytes(Fixtures.Path("rwkvcpp-quantized", "tiny-rwkv-6v0-1m-FP32-to-Q4_0.bin"));
        var (_, all) = GgmlReader.Read(new MemoryStream(file), "full.bin");
        int recordEnds = 0;
        var random = new Random(3);
        for (int trial = 0; trial < 300; trial++)
        {
            int cut = trial < 30 ? trial : random.Next(file.Length);
            try
            {
                var (_, tensors) = GgmlReader.Read(new MemoryStream(file[..cut]), "cut.bin");
                recordEnds++; // a cut exactly between records is a valid, shorter file
                Assert.True(tensors.Count < all.Count);
            }
            catch (InvalidDataException error)
            {
                Assert.Contains("cut.bin", error.Message, StringComparison.Ordinal);
            }
        }
        Assert.True(recordEnds < 5);
    }

    private static byte[] Header(int version = 101, int vocabulary = 256, int type = 9) =>
        Int32s(GgmlHeader.Magic, version, vocabulary, 64, 1, type);

    /// <summary>A record: dim_count, key_length, type, shape (innermost first, as given), key, data.</summary>
    private static byte[] Record(int[] ggmlShape, int type, string key, byte[] data) =>
        Build(Int32s([ggmlShape.Length, key.Length, type, .. ggmlShape]), Encoding.UTF8.GetBytes(key), data);

    private static byte[] Int32s(params int[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(i * 4), values[i]);
        return bytes;
    }

    private static byte[] Build(params byte[][] parts) => parts.SelectMany(p => p).ToArray();
}
