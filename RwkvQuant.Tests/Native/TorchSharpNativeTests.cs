using System.Text;
using RwkvQuant.Native;
using TorchSharp;

namespace RwkvQuant.Tests.Native;

public class TorchSharpNativeTests
{
    [Fact]
    public void TorchSharp_loads_and_multiplies_matrices()
    {
        TorchSharpNative.EnsureLoadable();
        using var scope = torch.NewDisposeScope();
        var a = torch.tensor(new float[] { 1, 2, 3, 4, 5, 6 }, [2, 3]);
        var b = torch.tensor(new float[] { 7, 8, 9, 10, 11, 12 }, [3, 2]);
        float[] product = torch.mm(a, b).data<float>().ToArray();
        Assert.Equal(new float[] { 58, 64, 139, 154 }, product);
        Assert.NotNull(TorchSharpNative.Outcome);
        Assert.DoesNotContain("failed", TorchSharpNative.Outcome, StringComparison.Ordinal);
    }

    [Fact]
    public void Marks_only_the_named_version_requirement_weak()
    {
        byte[] image = BuildElfWithVersionNeeds("GLIBCXX_3.4.30", "GLIBCXX_3.4.32", "CXXABI_1.3.5");
        Assert.Equal(1, TorchSharpNative.MarkVersionNeedWeak(image, "GLIBCXX_3.4.32"));
        Assert.Equal(new ushort[] { 0, 2, 0 }, ReadFlags(image));
        Assert.Equal(0, TorchSharpNative.MarkVersionNeedWeak(image, "GLIBCXX_3.4.32")); // idempotent
        Assert.Equal(0, TorchSharpNative.MarkVersionNeedWeak(image, "GLIBCXX_3.4.3")); // prefix is not a match
    }

    [Fact]
    public void A_libstdcxx_that_defines_the_version_is_left_alone()
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, Encoding.ASCII.GetBytes("\0GLIBCXX_3.4.30\0GLIBCXX_3.4.32\0CXXABI_1.3.15\0"));
            Assert.True(TorchSharpNative.ProvidesVersion(path, "GLIBCXX_3.4.32"));
            File.WriteAllBytes(path, Encoding.ASCII.GetBytes("\0GLIBCXX_3.4.30\0GLIBCXX_3.4.321\0"));
            Assert.False(TorchSharpNative.ProvidesVersion(path, "GLIBCXX_3.4.32"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Rejects_a_file_that_is_not_elf()
    {
        Assert.Throws<InvalidDataException>(() => TorchSharpNative.MarkVersionNeedWeak(new byte[100], "GLIBCXX_3.4.32"));
    }

    [Fact]
    public void Rejects_a_version_section_that_points_outside_the_file()
    {
        byte[] image = BuildElfWithVersionNeeds("GLIBCXX_3.4.32");
        BitConverter.GetBytes(1_000_000UL).CopyTo(image, SectionHeaderOffset + 64 + 0x18);
        Assert.Throws<InvalidDataException>(() => TorchSharpNative.MarkVersionNeedWeak(image, "GLIBCXX_3.4.32"));
    }

    // A minimal ELF64 image: header, a string table, one .gnu.version_r with one Verneed and n Vernaux,
    // and three section headers (null, verneed, strtab).
    private const int SectionHeaderOffset = 512;
    private const int VerneedOffset = 64;
    private const int StringsOffset = 256;

    private static byte[] BuildElfWithVersionNeeds(params string[] versions)
    {
        var image = new byte[SectionHeaderOffset + 3 * 64];
        "\u007fELF"u8.CopyTo(image);
        image[4] = 2; // ELFCLASS64
        image[5] = 1; // little-endian
        BitConverter.GetBytes((ulong)SectionHeaderOffset).CopyTo(image, 0x28);
        BitConverter.GetBytes((ushort)64).CopyTo(image, 0x3A);
        BitConverter.GetBytes((ushort)3).CopyTo(image, 0x3C);

        var strings = new MemoryStream();
        strings.WriteByte(0);
        var nameOffsets = new List<int>();
        foreach (string version in versions)
        {
            nameOffsets.Add((int)strings.Length);
            strings.Write(Encoding.ASCII.GetBytes(version + "\0"));
        }
        strings.ToArray().CopyTo(image, StringsOffset);

        BitConverter.GetBytes((ushort)1).CopyTo(image, VerneedOffset);
        BitConverter.GetBytes((ushort)versions.Length).CopyTo(image, VerneedOffset + 2);
        BitConverter.GetBytes(16u).CopyTo(image, VerneedOffset + 8);
        for (int i = 0; i < versions.Length; i++)
        {
            int aux = VerneedOffset + 16 + i * 16;
            BitConverter.GetBytes((uint)nameOffsets[i]).CopyTo(image, aux + 8);
            BitConverter.GetBytes(i == versions.Length - 1 ? 0u : 16u).CopyTo(image, aux + 12);
        }

        int verneedHeader = SectionHeaderOffset + 64;
        BitConverter.GetBytes(0x6ffffffeu).CopyTo(image, verneedHeader + 4);
        BitConverter.GetBytes((ulong)VerneedOffset).CopyTo(image, verneedHeader + 0x18);
        BitConverter.GetBytes(2u).CopyTo(image, verneedHeader + 0x28);
        int stringsHeader = SectionHeaderOffset + 128;
        BitConverter.GetBytes(3u).CopyTo(image, stringsHeader + 4);
        BitConverter.GetBytes((ulong)StringsOffset).CopyTo(image, stringsHeader + 0x18);
        return image;
    }

    private static ushort[] ReadFlags(byte[] image)
    {
        int count = BitConverter.ToUInt16(image, VerneedOffset + 2);
        return Enumerable.Range(0, count).Select(i => BitConverter.ToUInt16(image, VerneedOffset + 16 + i * 16 + 4)).ToArray();
    }
}
