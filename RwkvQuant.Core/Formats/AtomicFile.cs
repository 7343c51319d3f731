namespace RwkvQuant.Formats;

/// <summary>Writes files so that readers see either the old file or the complete new one, never a partial file.</summary>
public static class AtomicFile
{
    /// <summary>
    /// Runs <paramref name="write"/> on a temporary file in the target's folder, flushes it to disk, then renames it
    /// over <paramref name="path"/>. On any failure (including cancellation) the temporary file is deleted and the
    /// target is left as it was. A failed write (disk full, or a file system that refuses the file's size) becomes an
    /// <see cref="IOException"/> naming <paramref name="path"/>, not the temporary file.
    /// </summary>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        string fullPath = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(fullPath) ?? ".";
        string temporary = Path.Combine(folder, $".{Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, fullPath, overwrite: true);
        }
        catch (Exception e)
        {
            if (File.Exists(temporary))                  // File.Delete itself throws when the folder is missing
                File.Delete(temporary);
            if (IsWriteFailure(e) || e is UnauthorizedAccessException)
                throw WriteFailure(path, e);
            throw;
        }
    }

    /// <summary>
    /// Checks, before any long work, that <see cref="Write"/> could write <paramref name="path"/>: its folder exists,
    /// the path is not a folder, and a file can be created in the folder (a probe file, deleted at once). Commands call
    /// this first, so that a typo in an output path costs a second, not an hour of quantization.
    /// </summary>
    /// <exception cref="IOException">The file could not be written; the message names <paramref name="path"/> and why.</exception>
    public static void EnsureWritable(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string fullPath = Path.GetFullPath(path);
        if (Directory.Exists(fullPath))
            throw new IOException($"Cannot write '{path}': it is a folder");
        string folder = Path.GetDirectoryName(fullPath) ?? ".";
        if (!Directory.Exists(folder))
            throw WriteFailure(path, new DirectoryNotFoundException()); // the same words as a failed write
        string probe = Path.Combine(folder, $".{Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.probe");
        try
        {
            using var stream = new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw WriteFailure(path, e);
        }
    }

    /// <summary>
    /// Whether <paramref name="e"/> is the operating system refusing a write: an <see cref="IOException"/> (ENOSPC:
    /// the disk is full), or the file growing past what the file system or the process may hold (EFBIG: FAT32's 4 GB,
    /// a size limit), which .NET's file writes report as an <see cref="ArgumentOutOfRangeException"/> for "value" (the
    /// file's length), thrown by the base library rather than by our code.
    /// </summary>
    public static bool IsWriteFailure(Exception e) =>
        e is IOException || e is ArgumentOutOfRangeException { ParamName: "value", Source: "System.Private.CoreLib" };

    /// <summary>An <see cref="IOException"/> that says <paramref name="path"/> could not be written and why.</summary>
    public static IOException WriteFailure(string path, Exception e, string? context = null) =>
        new($"Cannot write '{path}': {Reason(path, e)}{context}", e);

    /// <summary>Why a write failed, in words that name the user's path, never our temporary file.</summary>
    private static string Reason(string path, Exception e) => e switch
    {
        ArgumentOutOfRangeException => "the file system, or a limit on file size, does not allow a file this large",
        DirectoryNotFoundException => $"the folder '{Path.GetDirectoryName(Path.GetFullPath(path))}' does not exist",
        UnauthorizedAccessException => $"permission denied in the folder '{Path.GetDirectoryName(Path.GetFullPath(path))}'",
        _ => e.Message,
    };
}
