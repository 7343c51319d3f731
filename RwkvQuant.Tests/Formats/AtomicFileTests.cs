using RwkvQuant.Formats;

namespace RwkvQuant.Tests.Formats;

public sealed class AtomicFileTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("rwkvquant-atomic-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void A_writable_path_passes_the_check_and_leaves_nothing_behind()
    {
        string path = Path.Combine(_directory, "model.rwkvq");
        AtomicFile.EnsureWritable(path);
        Assert.Empty(Directory.GetFileSystemEntries(_directory));
        File.WriteAllText(path, "old");
        AtomicFile.EnsureWritable(path);                                      // an existing file is replaced later
        Assert.Equal("old", File.ReadAllText(path));
    }

    [Fact]
    public void A_missing_folder_is_named_before_any_work_and_after_a_write()
    {
        string path = Path.Combine(_directory, "missing", "model.rwkvq");
        IOException check = Assert.Throws<IOException>(() => AtomicFile.EnsureWritable(path));
        Assert.Equal($"Cannot write '{path}': the folder '{Path.Combine(_directory, "missing")}' does not exist", check.Message);
        IOException write = Assert.Throws<IOException>(() => AtomicFile.Write(path, s => s.WriteByte(1)));
        Assert.Equal(check.Message, write.Message);                          // the user's path, never the temporary file
        Assert.DoesNotContain(".tmp", write.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_folder_is_not_a_file()
    {
        IOException e = Assert.Throws<IOException>(() => AtomicFile.EnsureWritable(_directory));
        Assert.Equal($"Cannot write '{_directory}': it is a folder", e.Message);
    }
}
