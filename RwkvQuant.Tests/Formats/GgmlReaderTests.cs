using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;

namespace RwkvQuant.Tests.Formats;

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
}
