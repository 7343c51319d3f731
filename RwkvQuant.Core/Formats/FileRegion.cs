using Microsoft.Win32.SafeHandles;

namespace RwkvQuant.Formats;

/// <summary>
/// A model file held open for reading tensors on demand. The handle is kept, so the tensors keep reading the file that
/// was opened even if another file is later renamed over its path; it is closed when the last tensor that uses it is
/// collected (or by <see cref="Dispose"/>). Positional reads, so it is safe to read from several threads.
/// </summary>
internal sealed class OpenModelFile : IDisposable
{
    private readonly SafeFileHandle _handle;

    private OpenModelFile(string path, SafeFileHandle handle, long length)
    {
        Path = path;
        _handle = handle;
        Length = length;
    }

    /// <summary>Opens <paramref name="path"/> for reading.</summary>
    public static OpenModelFile Open(string path)
    {
        SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
        return new OpenModelFile(path, handle, RandomAccess.GetLength(handle));
    }

    /// <summary>The path it was opened from (for error messages).</summary>
    public string Path { get; }

    /// <summary>The file's length when it was opened.</summary>
    public long Length { get; }

    /// <summary>The <paramref name="length"/> bytes at <paramref name="offset"/>, for the tensor <paramref name="tensor"/>.</summary>
    /// <exception cref="InvalidDataException">The file is shorter than when it was opened, or cannot be read.</exception>
    public byte[] Read(long offset, long length, string tensor)
    {
        var bytes = new byte[length];
        try
        {
            long done = 0;
            while (done < length)
            {
                int read = RandomAccess.Read(_handle, bytes.AsSpan((int)done), offset + done);
                if (read == 0)
                    throw ModelFileError.Create(Path, tensor, $"the file ended at offset {offset + done} while reading bytes {offset}..{offset + length}; was it truncated after it was opened?");
                done += read;
            }
        }
        catch (IOException exception)
        {
            throw ModelFileError.Create(Path, tensor, $"reading bytes {offset}..{offset + length} failed: {exception.Message}", exception);
        }
        catch (ObjectDisposedException exception)
        {
            throw ModelFileError.Create(Path, tensor, "the file was closed before this tensor was read.", exception);
        }
        return bytes;
    }

    /// <inheritdoc />
    public void Dispose() => _handle.Dispose();
}

/// <summary>Where a file-backed tensor's bytes are: <paramref name="Length"/> bytes at <paramref name="Offset"/> of <paramref name="File"/>.</summary>
internal sealed record FileRegion(OpenModelFile File, long Offset, long Length)
{
    /// <summary>Reads the bytes (a fresh array each time).</summary>
    public byte[] Read(string tensor) => File.Read(Offset, Length, tensor);
}
