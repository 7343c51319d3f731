using System.IO.Compression;
using System.Text;

namespace RwkvQuant.Formats.Pth;

/// <summary>
/// Reads PyTorch checkpoints in the zip format of <c>torch.save</c> (PyTorch ≥ 1.6): an archive with one folder
/// <c>&lt;prefix&gt;/</c> holding <c>data.pkl</c> (a pickled dict of tensors rebuilt by
/// <c>torch._utils._rebuild_tensor_v2</c> over persistent storages), <c>data/&lt;key&gt;</c> (raw little-endian
/// storages) and <c>byteorder</c>. Only the pickle subset of state dicts is understood; nothing in the file is executed.
/// Every entry read is checked against its CRC-32, and the memory taken is bounded by the file's size
/// (<see cref="MaxExpansion"/>).
/// </summary>
public static class PthReader
{
    /// <summary>Largest <c>data.pkl</c> accepted (a state dict's pickle is a few bytes per tensor).</summary>
    public const long MaxPickleBytes = 64L << 20;

    /// <summary>
    /// Most bytes the reader takes for the archive's entries and the tensors copied out of storages, per byte of the
    /// file: 16. <c>torch.save</c> stores entries uncompressed and most tensors share their storage's bytes, so a
    /// checkpoint needs about 1; the bound stops a small deflated entry, or one storage viewed by many keys, from taking
    /// memory out of all proportion to the file.
    /// </summary>
    public const int MaxExpansion = 16;

    private const string PickleName = "data.pkl";

    /// <summary>
    /// Reads every tensor of the state dict in <paramref name="path"/>, in the dict's order, keeping each tensor's
    /// stored type. A dict nested inside the top-level dict (e.g. <c>{"model": {...}}</c>) is flattened with dotted keys.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not a well-formed state dict; the message names the file and tensor.</exception>
    public static IReadOnlyList<TensorData> Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using FileStream stream = File.OpenRead(path);
        return Read(stream, path);
    }

    /// <summary>Reads from a seekable stream holding the archive; <paramref name="path"/> names it in errors.</summary>
    /// <exception cref="InvalidDataException">The data is not a well-formed state dict.</exception>
    public static IReadOnlyList<TensorData> Read(Stream stream, string path)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(path);
        long fileLength = stream.Length;
        (ZipArchive archive, ZipArchiveEntry[] entries) = OpenArchive(stream, path);
        using (archive)
        {
            ZipArchiveEntry[] pickles = entries.Where(e => e.FullName.EndsWith("/" + PickleName, StringComparison.Ordinal) && e.FullName.Count(c => c == '/') == 1).ToArray();
            if (pickles.Length != 1)
                throw ModelFileError.Create(path, null, $"expected one '<prefix>/{PickleName}' in the archive, found {pickles.Length}.");
            string prefix = pickles[0].FullName[..^PickleName.Length];
            var reader = new CheckpointReader(archive, path, prefix, fileLength);

            ZipArchiveEntry? byteOrder = archive.GetEntry(prefix + "byteorder");
            if (byteOrder is not null)
            {
                string order = Encoding.ASCII.GetString(reader.ReadEntry(byteOrder, 16, null)).Trim();
                if (order != "little")
                    throw ModelFileError.Create(path, null, $"storages are {order}-endian; only little-endian files are supported.");
            }

            object? root = PickleReader.Load(reader.ReadEntry(pickles[0], MaxPickleBytes, null), path);
            if (root is not PickleDict dict)
                throw ModelFileError.Create(path, null, $"data.pkl holds a {root?.GetType().Name ?? "None"}, not a dict of tensors.");
            return reader.Tensors(dict);
        }
    }

    /// <summary>Opens the archive and reads its central directory, either of which fails on a corrupt file.</summary>
    private static (ZipArchive Archive, ZipArchiveEntry[] Entries) OpenArchive(Stream stream, string path)
    {
        ZipArchive archive;
        try
        {
            archive = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true);
        }
        catch (InvalidDataException exception)
        {
            throw ModelFileError.Create(path, null, "not a zip archive (only the zip format of torch.save, PyTorch 1.6 and later, is supported).", exception);
        }
        try
        {
            // The central directory is read on first use, so a corrupt one throws here rather than in the constructor.
            return (archive, [.. archive.Entries]);
        }
        catch (Exception exception) when (exception is InvalidDataException or IOException or ArgumentException)
        {
            archive.Dispose();
            throw ModelFileError.Create(path, null, $"the zip central directory is corrupt: {exception.Message}", exception);
        }
    }

    /// <summary>
    /// Reads the entries and storages of one archive for <see cref="Read(Stream, string)"/>: each storage once, however
    /// many tensors view it, and never more than <see cref="MaxExpansion"/> times the file's size in all.
    /// </summary>
    private sealed class CheckpointReader(ZipArchive archive, string path, string prefix, long fileLength)
    {
        private readonly Dictionary<string, LoadedStorage> _storages = new(StringComparer.Ordinal);
        private readonly HashSet<string> _names = new(StringComparer.Ordinal);
        private readonly List<TensorData> _tensors = [];
        private readonly long _budget = fileLength > long.MaxValue / MaxExpansion ? long.MaxValue : fileLength * MaxExpansion;
        private long _taken;

        /// <summary>A storage as read, with how it was declared (by the tensor named) for comparing later references.</summary>
        private sealed record LoadedStorage(PickleStorage Declared, string DeclaredBy, byte[] Bytes);

        /// <summary>The tensors of <paramref name="dict"/>, nested dicts flattened with dotted keys.</summary>
        public List<TensorData> Tensors(PickleDict dict)
        {
            Flatten(dict, "", 0);
            return _tensors;
        }

        private void Flatten(PickleDict items, string keyPrefix, int depth)
        {
            foreach ((object key, object? value) in items.Items)
            {
                string name = keyPrefix + Convert.ToString(key, System.Globalization.CultureInfo.InvariantCulture);
                switch (value)
                {
                    case PickleTensor tensor:
                        if (name.Length == 0)
                            throw ModelFileError.Create(path, null, "a tensor has an empty key in the state dict.");
                        if (!_names.Add(name))
                            throw ModelFileError.Create(path, name, "the key appears twice after flattening nested dicts.");
                        _tensors.Add(Materialize(name, tensor, LoadStorage(tensor.Storage, name)));
                        break;
                    case PickleDict nested when depth < 8:
                        Flatten(nested, name + ".", depth + 1);
                        break;
                    default:
                        throw ModelFileError.Create(path, name, $"value is a {value?.GetType().Name ?? "None"}, not a tensor.");
                }
            }
        }

        /// <summary>The bytes of <paramref name="storage"/>, read on its first reference and shared by later ones, which
        /// must declare it alike (torch.save writes one type and size per storage).</summary>
        private byte[] LoadStorage(PickleStorage storage, string tensorName)
        {
            if (_storages.TryGetValue(storage.Key, out LoadedStorage? loaded))
            {
                if (loaded.Declared != storage)
                    throw ModelFileError.Create(path, tensorName, $"storage '{storage.Key}' is declared as {storage.ElementCount} × {storage.Type}, but as {loaded.Declared.ElementCount} × {loaded.Declared.Type} by tensor '{loaded.DeclaredBy}'.");
                return loaded.Bytes;
            }
            if (storage.Key.Length == 0 || storage.Key.Any(c => !char.IsAsciiLetterOrDigit(c) && c != '_'))
                throw ModelFileError.Create(path, tensorName, $"storage key '{storage.Key}' is not a plain name.");
            ZipArchiveEntry entry = archive.GetEntry($"{prefix}data/{storage.Key}")
                ?? throw ModelFileError.Create(path, tensorName, $"storage '{prefix}data/{storage.Key}' is missing from the archive.");
            long expected = storage.ElementCount > Array.MaxLength / storage.Type.SizeOf() ? -1 : storage.ElementCount * storage.Type.SizeOf();
            if (entry.Length != expected)
                throw ModelFileError.Create(path, tensorName, $"storage '{storage.Key}' holds {entry.Length} bytes, but {storage.ElementCount} × {storage.Type} need {storage.ElementCount * (double)storage.Type.SizeOf()}.");
            byte[] bytes = ReadEntry(entry, expected, tensorName);
            _storages[storage.Key] = new LoadedStorage(storage, tensorName, bytes);
            return bytes;
        }

        /// <summary>The bytes of <paramref name="entry"/>, at most <paramref name="maxBytes"/> of them, checked against its CRC-32.</summary>
        public byte[] ReadEntry(ZipArchiveEntry entry, long maxBytes, string? tensorName)
        {
            if (entry.Length > maxBytes || entry.Length < 0)
                throw ModelFileError.Create(path, tensorName, $"archive entry '{entry.FullName}' is {entry.Length} bytes (at most {maxBytes} expected).");
            if (entry.CompressedLength > fileLength || entry.CompressedLength < 0)
                throw ModelFileError.Create(path, tensorName, $"archive entry '{entry.FullName}' claims {entry.CompressedLength} stored bytes, more than the file's {fileLength}.");
            Take(entry.Length, tensorName, $"archive entry '{entry.FullName}'");
            var bytes = new byte[entry.Length];
            try
            {
                using Stream stream = entry.Open();
                stream.ReadExactly(bytes);
            }
            catch (Exception exception) when (exception is EndOfStreamException or InvalidDataException or IOException)
            {
                throw ModelFileError.Create(path, tensorName, $"archive entry '{entry.FullName}' cannot be read: {exception.Message}", exception);
            }
            uint crc = ZipCrc32.Compute(bytes);
            if (crc != entry.Crc32)
                throw ModelFileError.Create(path, tensorName, $"archive entry '{entry.FullName}' has CRC-32 0x{crc:x8}, but the archive records 0x{entry.Crc32:x8}: the file is corrupt.");
            return bytes;
        }

        /// <summary>Counts <paramref name="bytes"/> about to be allocated against the budget of <see cref="MaxExpansion"/> × the file.</summary>
        private void Take(long bytes, string? tensorName, string what)
        {
            if (bytes > _budget - _taken)
                throw ModelFileError.Create(path, tensorName, $"{what} needs {bytes} bytes beyond the {_taken} already taken, more than {MaxExpansion} × the file's {fileLength} bytes allows (a deflated entry of improbable ratio, or a storage viewed by too many tensors).");
            _taken += bytes;
        }

        /// <summary>
        /// The tensor's elements: the storage's own bytes when the tensor is all of it in row-major order (the usual
        /// case, so no copy), else a copy, gathered when the strides are not row-major.
        /// </summary>
        private TensorData Materialize(string name, PickleTensor tensor, byte[] storage)
        {
            string layout = $"offset {tensor.Offset}, shape [{string.Join(", ", tensor.Shape)}], stride [{string.Join(", ", tensor.Stride)}]";
            int size = tensor.Storage.Type.SizeOf();
            long storageElements = storage.Length / size;
            long count = 1;
            long lastIndex = tensor.Offset;
            try
            {
                for (int d = 0; d < tensor.Shape.Length; d++)
                {
                    if (tensor.Shape[d] < 0 || tensor.Stride[d] < 0)
                        throw ModelFileError.Create(path, name, $"{layout} has a negative value.");
                    count = checked(count * tensor.Shape[d]);
                }
                if (count > 0)
                {
                    for (int d = 0; d < tensor.Shape.Length; d++)
                        lastIndex = checked(lastIndex + (tensor.Shape[d] - 1) * tensor.Stride[d]);
                }
            }
            catch (OverflowException exception)
            {
                throw ModelFileError.Create(path, name, $"{layout} overflows.", exception);
            }
            if (tensor.Offset < 0 || (count > 0 && lastIndex >= storageElements))
                throw ModelFileError.Create(path, name, $"{layout} reach element {lastIndex}, outside the storage of {storageElements} elements.");
            // A view that repeats elements (a zero stride) could otherwise make a tiny storage into any number of bytes.
            if (count > storageElements)
                throw ModelFileError.Create(path, name, $"{layout} has {count} elements, more than the {storageElements} of its storage.");

            bool rowMajor = IsRowMajor(tensor.Shape, tensor.Stride);
            if (rowMajor && tensor.Offset == 0 && count == storageElements)
                return new TensorData(name, tensor.Storage.Type, tensor.Shape, storage);
            Take(count * size, name, "the tensor's copy out of its storage");
            var bytes = new byte[count * size];
            if (count > 0)
            {
                if (rowMajor)
                    storage.AsSpan((int)(tensor.Offset * size), bytes.Length).CopyTo(bytes);
                else
                    Gather(tensor, storage, bytes, size);
            }
            return new TensorData(name, tensor.Storage.Type, tensor.Shape, bytes);
        }
    }

    private static bool IsRowMajor(long[] shape, long[] stride)
    {
        long expected = 1;
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            if (shape[d] != 1 && stride[d] != expected)
                return false;
            expected *= shape[d];
        }
        return true;
    }

    private static void Gather(PickleTensor tensor, byte[] storage, byte[] destination, int size)
    {
        int rank = tensor.Shape.Length;
        var index = new long[rank];
        long count = destination.Length / size;
        for (long i = 0; i < count; i++)
        {
            long source = tensor.Offset;
            for (int d = 0; d < rank; d++)
                source += index[d] * tensor.Stride[d];
            Buffer.BlockCopy(storage, (int)(source * size), destination, (int)(i * size), size);
            for (int d = rank - 1; d >= 0; d--)
            {
                if (++index[d] < tensor.Shape[d])
                    break;
                index[d] = 0;
            }
        }
    }
}
