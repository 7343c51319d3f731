using System.Buffers.Binary;
using System.Text;

namespace RwkvQuant.Formats.Ggml;

/// <summary>
/// Reads rwkv.cpp model files: an int32 header <c>magic, version, n_vocab, n_embed, n_layer, data_type</c>, then
/// records <c>dim_count, key_length, data_type, shape[dim_count] (reversed), key, data</c> to the end of the file.
/// Every size is checked against the file length before anything is allocated.
/// </summary>
public static class GgmlReader
{
    private const int MaxDimensions = 4;
    private const int MaxKeyLength = 1024;

    /// <summary>Reads the header and all records of <paramref name="path"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not a well-formed rwkv.cpp model file.</exception>
    public static (GgmlHeader Header, IReadOnlyList<GgmlTensor> Tensors) Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using FileStream stream = File.OpenRead(path);
        return Read(stream, path);
    }

    /// <summary>Reads from a seekable stream; <paramref name="path"/> names it in errors.</summary>
    public static (GgmlHeader Header, IReadOnlyList<GgmlTensor> Tensors) Read(Stream stream, string path)
    {
        ArgumentNullException.ThrowIfNull(stream);
        long length = stream.Length;
        var word = new byte[4];

        int ReadInt32(string? tensor, string what)
        {
            if (stream.Position + 4 > length)
                throw ModelFileError.Create(path, tensor, $"file ends inside {what} at offset {stream.Position} (file is {length} bytes).");
            stream.ReadExactly(word);
            return BinaryPrimitives.ReadInt32LittleEndian(word);
        }

        if (length < GgmlHeader.Size)
            throw ModelFileError.Create(path, null, $"file is {length} bytes, shorter than the {GgmlHeader.Size}-byte rwkv.cpp header.");
        int magic = ReadInt32(null, "the header");
        if (magic != GgmlHeader.Magic)
            throw ModelFileError.Create(path, null, $"not an rwkv.cpp model file: magic 0x{magic:x8}, expected 0x{GgmlHeader.Magic:x8} (\"ggmf\").");
        int version = ReadInt32(null, "the header");
        if (version is not (100 or 101))
            throw ModelFileError.Create(path, null, $"unsupported rwkv.cpp file version {version} (supported: 100, 101).");
        int vocabulary = ReadInt32(null, "the header");
        int embedding = ReadInt32(null, "the header");
        int layers = ReadInt32(null, "the header");
        int fileType = ReadInt32(null, "the header");
        if (vocabulary <= 0 || embedding <= 0 || layers <= 0)
            throw ModelFileError.Create(path, null, $"header has non-positive sizes: n_vocab {vocabulary}, n_embed {embedding}, n_layer {layers}.");
        if (!GgmlTypes.IsKnown(fileType))
            throw ModelFileError.Create(path, null, $"header names unknown data type {fileType}.");
        var header = new GgmlHeader(version, vocabulary, embedding, layers, (GgmlType)fileType);

        var tensors = new List<GgmlTensor>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        while (stream.Position < length)
        {
            long recordStart = stream.Position;
            string where = $"the record at offset {recordStart}";
            int dimensionCount = ReadInt32(null, where);
            int keyLength = ReadInt32(null, where);
            int typeCode = ReadInt32(null, where);
            if (dimensionCount is < 1 or > MaxDimensions)
                throw ModelFileError.Create(path, null, $"{where} has {dimensionCount} dimensions (1 to {MaxDimensions} allowed).");
            if (keyLength is < 1 or > MaxKeyLength)
                throw ModelFileError.Create(path, null, $"{where} has a key of {keyLength} bytes (1 to {MaxKeyLength} allowed).");
            var shape = new long[dimensionCount];
            for (int i = 0; i < dimensionCount; i++)
            {
                int dimension = ReadInt32(null, where);
                if (dimension <= 0)
                    throw ModelFileError.Create(path, null, $"{where} has dimension {dimension}.");
                shape[dimensionCount - 1 - i] = dimension; // the file stores ggml's order, innermost first
            }
            if (stream.Position + keyLength > length)
                throw ModelFileError.Create(path, null, $"file ends inside the key of {where}.");
            var keyBytes = new byte[keyLength];
            stream.ReadExactly(keyBytes);
            string name = Encoding.UTF8.GetString(keyBytes);
            if (!GgmlTypes.IsKnown(typeCode))
                throw ModelFileError.Create(path, name, $"unknown ggml data type {typeCode}.");
            var type = (GgmlType)typeCode;
            if (version == 100 && type.IsQuantized())
                throw ModelFileError.Create(path, name, $"{type} in file version 100 uses ggml's pre-2023 block layout, which is not supported; convert the FP32/FP16 model again.");
            long count = 1;
            foreach (long dimension in shape)
            {
                count *= dimension;
                if (count > int.MaxValue)
                    throw ModelFileError.Create(path, name, $"shape [{string.Join(", ", shape)}] has more than {int.MaxValue} elements.");
            }
            long size = type.StorageSize(count);
            if (size < 0)
                throw ModelFileError.Create(path, name, $"{type} needs a multiple of {GgmlTypes.BlockSize} values; shape [{string.Join(", ", shape)}] has {count}.");
            if (stream.Position + size > length)
                throw ModelFileError.Create(path, name, $"data needs {size} bytes at offset {stream.Position}, but the file ends after {length - stream.Position} (truncated file?).");
            if (!names.Add(name))
                throw ModelFileError.Create(path, name, "the key appears twice.");
            var data = new byte[size];
            stream.ReadExactly(data);
            tensors.Add(new GgmlTensor(name, type, shape, data));
        }
        return (header, tensors);
    }
}
