using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Formats.Pth;
using RwkvQuant.Formats.Safetensors;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;

namespace RwkvQuant.ModelFiles;

/// <summary>
/// Loads and saves <see cref="RwkvModel"/>s in any supported container. The format is recognised from the file's
/// first bytes, not its name: <c>"fmgg"</c> (rwkv.cpp), <c>"PK\x03\x04"</c> (a PyTorch zip checkpoint), or an
/// 8-byte little-endian header length followed by <c>{</c> (safetensors).
/// </summary>
public static class RwkvModelFile
{
    /// <summary>Metadata key naming the producer in safetensors files we write.</summary>
    public const string FormatMetadataKey = ModelMetadata.FormatKey;

    /// <summary>Metadata value of <see cref="FormatMetadataKey"/> for full-precision models.</summary>
    public const string FullPrecisionFormat = ModelMetadata.FullPrecisionFormat;

    /// <summary>Recognises the container of <paramref name="path"/> from its first bytes.</summary>
    /// <exception cref="InvalidDataException">The file is in none of the supported formats.</exception>
    public static ModelFileFormat DetectFormat(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Span<byte> head = stackalloc byte[9];
        int read;
        using (FileStream stream = File.OpenRead(path))
            read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        head = head[..read];
        if (head.Length >= 4 && head[..4].SequenceEqual("fmgg"u8))
            return ModelFileFormat.Ggml;
        if (head.Length >= 4 && head[..4].SequenceEqual("PK\u0003\u0004"u8))
            return ModelFileFormat.Pth;
        if (head.Length == 9 && head[8] == (byte)'{')
            return ModelFileFormat.Safetensors;
        throw ModelFileError.Create(path, null,
            "not a model file this library reads (expected an rwkv.cpp .bin, a PyTorch .pth zip or a safetensors file).");
    }

    /// <summary>Loads a model from any supported container into canonical form; a quantized <c>.rwkvq</c> file (see
    /// <see cref="QuantizedModelFile"/>) is dequantized.</summary>
    /// <exception cref="InvalidDataException">The file is malformed or does not hold an RWKV model.</exception>
    public static RwkvModel Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return DetectFormat(path) switch
        {
            ModelFileFormat.Ggml => GgmlModelLoader.Load(path),
            ModelFileFormat.Safetensors => FromSafetensors(SafetensorsReader.Open(path), path),
            ModelFileFormat.Pth => FromPthTensors(PthReader.Read(path), path),
            _ => throw new InvalidOperationException("unreachable"),
        };
    }

    /// <summary>A quantized <c>.rwkvq</c> file (format <c>"rwkvquant"</c>) gives its dequantized model.</summary>
    private static RwkvModel FromSafetensors(SafetensorsFile file, string path) =>
        QuantizedModelFile.IsQuantizedModel(file)
            ? QuantizedModelFile.FromSafetensors(file, path).ToDequantizedModel()
            : CanonicalModel.FromTensors(file.Tensors, path);

    private static RwkvModel FromPthTensors(IReadOnlyList<TensorData> tensors, string path)
    {
        if (RosaRwkv7Keys.Matches(tensors))
        {
            string rosa = tensors.First(t => t.Name.StartsWith("rosa", StringComparison.Ordinal)).Name;
            throw ModelFileError.Create(path, rosa,
                "this checkpoint is an RWKV-8 ROSA demo (RWKV-7 blocks with a parallel ROSA branch, no ln0, a head bias); " +
                "its tensors can be read with PthReader, but only standard RWKV-4 to RWKV-7 checkpoints can be run.");
        }
        return CanonicalModel.FromTensors(tensors, path);
    }

    /// <summary>
    /// Saves <paramref name="model"/> as a PyTorch checkpoint (a zip holding a pickled dict of float32 tensors with
    /// BlinkDL names, as <c>torch.save(model.state_dict())</c> writes it), atomically.
    /// </summary>
    public static void SavePth(RwkvModel model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var tensors = model.Tensors.Values.OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        string archiveName = Path.GetFileNameWithoutExtension(path);
        AtomicFile.Write(path, stream => PthWriter.Write(stream, tensors, string.IsNullOrEmpty(archiveName) ? "archive" : archiveName));
    }

    /// <summary>
    /// Saves <paramref name="model"/> as safetensors with BlinkDL names, <paramref name="type"/> being F32, F16 or
    /// BF16. The file is written atomically. Metadata records the producer and the RWKV version.
    /// </summary>
    public static void SaveSafetensors(RwkvModel model, string path, TensorDataType type = TensorDataType.F32)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (type is not (TensorDataType.F32 or TensorDataType.F16 or TensorDataType.BF16))
            throw new ArgumentException($"Models are saved as F32, F16 or BF16, not {type}.", nameof(type));
        var tensors = model.Tensors.Values.OrderBy(t => t.Name, StringComparer.Ordinal).Select(t => t.ConvertTo(type)).ToList();
        var metadata = new Dictionary<string, string>
        {
            [FormatMetadataKey] = FullPrecisionFormat,
            ["rwkv_version"] = model.Config.Version.ToString(),
        };
        SafetensorsWriter.Write(path, tensors, metadata);
    }
}
