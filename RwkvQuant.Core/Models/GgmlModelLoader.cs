using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;

namespace RwkvQuant.Models;

/// <summary>
/// Loads an rwkv.cpp model file (any of v4, v5.1, v5.2, v6, v7; FP32, FP16 or a quantized type) into the canonical
/// <see cref="RwkvModel"/>: records are dequantized to float32, the converter's transforms are undone (see
/// <see cref="GgmlConverterTransforms"/>), and the config is inferred from the tensors and checked against the header.
/// </summary>
public static class GgmlModelLoader
{
    /// <summary>Loads <paramref name="path"/>.</summary>
    /// <exception cref="InvalidDataException">The file is malformed, or its tensors do not form an RWKV model.</exception>
    public static RwkvModel Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var (header, records) = GgmlReader.Read(path);
        return FromRecords(header, records, path);
    }

    /// <summary>Loads from a seekable stream; <paramref name="path"/> names it in errors and becomes the model's source.</summary>
    public static RwkvModel Load(Stream stream, string path)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var (header, records) = GgmlReader.Read(stream, path);
        return FromRecords(header, records, path);
    }

    private static RwkvModel FromRecords(GgmlHeader header, IReadOnlyList<GgmlTensor> records, string path)
    {
        var names = new HashSet<string>(records.Select(r => r.Name), StringComparer.Ordinal);
        RwkvVersion version = RwkvConfigInference.DetectVersion(names.Contains);

        var stored = new List<TensorData>(records.Count);
        foreach (GgmlTensor record in records)
        {
            try
            {
                stored.Add(record.ToTensorData());
            }
            catch (NotSupportedException e)
            {
                throw ModelFileError.Create(path, record.Name, $"cannot dequantize {record.Type}: {e.Message}", e);
            }
        }

        List<TensorData> canonical = GgmlConverterTransforms.ToCanonical(version, stored, path);
        var byName = canonical.ToDictionary(t => t.Name, StringComparer.Ordinal);
        RwkvConfig config = RwkvConfigInference.Infer(byName, path);
        if (config.VocabularySize != header.VocabularySize || config.EmbeddingSize != header.EmbeddingSize || config.LayerCount != header.LayerCount)
        {
            throw ModelFileError.Create(path, null,
                $"header says n_vocab {header.VocabularySize}, n_embed {header.EmbeddingSize}, n_layer {header.LayerCount}, " +
                $"but the tensors have {config.VocabularySize}, {config.EmbeddingSize}, {config.LayerCount}.");
        }
        return new RwkvModel(config, canonical, path);
    }
}
