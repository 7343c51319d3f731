using System.IO.Compression;
using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Formats.Pth;
using RwkvQuant.Fuzz;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;

namespace RwkvQuant.Tests.Fuzz;

/// <summary>The fuzzer's mutations, on seeds made here from a small synthetic RWKV-7 model (no fixtures needed).</summary>
public sealed class MutatorTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("rwkvquant-fuzz-mutator-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private SeedFile Seed(FuzzFormat format)
    {
        RwkvModel model = SyntheticModels.Create(new SyntheticShape("tiny", RwkvVersion.V7, 2, 64, 256, 16), seed: 3);
        string path = Path.Combine(_directory, "seed" + format.Extension());
        switch (format)
        {
            case FuzzFormat.Bin: GgmlModelWriter.Write(model, path, GgmlType.F16); break;
            case FuzzFormat.Pth: RwkvModelFile.SavePth(model, path); break;
            default: RwkvModelFile.SaveSafetensors(model, path, TensorDataType.F16); break;
        }
        return SeedFile.Create(format, Path.GetFileName(path), File.ReadAllBytes(path));
    }

    [Theory]
    [InlineData(FuzzFormat.Bin)]
    [InlineData(FuzzFormat.Pth)]
    [InlineData(FuzzFormat.Safetensors)]
    public void A_case_is_the_same_file_and_mutation_for_the_same_seed_and_index(FuzzFormat format)
    {
        SeedFile[] seeds = [Seed(format)];
        int differentFromSeed = 0;
        for (int i = 0; i < 60; i++)
        {
            MutatedFile first = FuzzCampaign.CaseFile(seeds, 42, format, i), again = FuzzCampaign.CaseFile(seeds, 42, format, i);
            Assert.Equal(first.Mutation, again.Mutation);
            Assert.Equal(first.Bytes, again.Bytes);
            if (!first.Bytes.AsSpan().SequenceEqual(seeds[0].Bytes))
                differentFromSeed++;
        }
        Assert.True(differentFromSeed >= 55, $"only {differentFromSeed} of 60 cases changed the seed");
        // Another run seed draws other cases.
        Assert.NotEqual(
            Enumerable.Range(0, 20).Select(i => FuzzCampaign.CaseFile(seeds, 42, format, i).Mutation),
            Enumerable.Range(0, 20).Select(i => FuzzCampaign.CaseFile(seeds, 43, format, i).Mutation));
    }

    [Fact]
    public void Every_mutation_kind_of_each_format_is_drawn()
    {
        var kinds = new Dictionary<FuzzFormat, string[]>
        {
            [FuzzFormat.Bin] = ["byte-flip", "truncate", "chunk-overwrite", "int-field", "ggml-record"],
            [FuzzFormat.Pth] = ["byte-flip", "truncate", "chunk-overwrite", "int-field", "pickle", "storage-bytes", "zip-entries"],
            [FuzzFormat.Safetensors] = ["byte-flip", "truncate", "chunk-overwrite", "int-field", "json-header"],
        };
        foreach ((FuzzFormat format, string[] expected) in kinds)
        {
            SeedFile[] seeds = [Seed(format)];
            var drawn = Enumerable.Range(0, 300).Select(i => FuzzCampaign.CaseFile(seeds, 1, format, i).Mutation.Kind).ToHashSet();
            Assert.Equal(expected.Order(), drawn.Order());
        }
    }

    [Fact]
    public void Pickle_and_entry_mutations_rebuild_the_zip_with_correct_sizes_and_CRCs()
    {
        SeedFile[] seeds = [Seed(FuzzFormat.Pth)];
        int rebuilt = 0;
        for (int i = 0; i < 200; i++)
        {
            MutatedFile file = FuzzCampaign.CaseFile(seeds, 5, FuzzFormat.Pth, i);
            if (file.Mutation.Kind is not ("pickle" or "storage-bytes" or "zip-entries"))
                continue;
            rebuilt++;
            using var zip = new ZipArchive(new MemoryStream(file.Bytes), ZipArchiveMode.Read);
            foreach (ZipArchiveEntry entry in zip.Entries)
            {
                using Stream stream = entry.Open();
                var bytes = new byte[entry.Length];
                stream.ReadExactly(bytes);
                Assert.Equal(-1, stream.ReadByte());
                Assert.True(ZipCrc32.Compute(bytes) == entry.Crc32, $"case {i} ({file.Mutation}): entry '{entry.FullName}' has a stale CRC");
            }
        }
        Assert.True(rebuilt >= 80, $"only {rebuilt} of 200 cases rebuilt the zip");
    }

    [Fact]
    public void Pickle_mutations_change_data_pkl_and_nothing_else()
    {
        SeedFile seed = Seed(FuzzFormat.Pth);
        Dictionary<string, byte[]> original = Entries(seed.Bytes);
        int seen = 0;
        for (int i = 0; i < 300 && seen < 20; i++)
        {
            MutatedFile file = FuzzCampaign.CaseFile([seed], 9, FuzzFormat.Pth, i);
            if (file.Mutation.Kind != "pickle")
                continue;
            seen++;
            Dictionary<string, byte[]> mutated = Entries(file.Bytes);
            Assert.Equal(original.Keys.Order(), mutated.Keys.Order());
            foreach ((string name, byte[] bytes) in original)
            {
                if (name.EndsWith("/data.pkl", StringComparison.Ordinal))
                    Assert.False(bytes.AsSpan().SequenceEqual(mutated[name]), $"case {i} ({file.Mutation}) left data.pkl as it was");
                else
                    Assert.Equal(bytes, mutated[name]);
            }
        }
        Assert.Equal(20, seen);
    }

    private static Dictionary<string, byte[]> Entries(byte[] archive)
    {
        using var zip = new ZipArchive(new MemoryStream(archive), ZipArchiveMode.Read);
        return zip.Entries.ToDictionary(e => e.FullName, e =>
        {
            using Stream stream = e.Open();
            var bytes = new byte[e.Length];
            stream.ReadExactly(bytes);
            return bytes;
        });
    }
}
