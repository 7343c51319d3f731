using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Models;

namespace RwkvQuant.Tests.Models;

// Temporary: stands in for GgmlModelLoader until the canonical loader is merged.
internal static class TemporaryGgmlLoading
{
    public static RwkvModel Load(string path)
    {
        var (header, records) = GgmlReader.Read(path);
        var names = records.Select(r => r.Name).ToHashSet();
        RwkvVersion version = names.Contains("blocks.0.att.ln_x.weight")
            ? (names.Contains("blocks.0.att.gate.weight") ? RwkvVersion.V5_2 : RwkvVersion.V5_1)
            : RwkvVersion.V4;
        var tensors = new List<TensorData>();
        foreach (GgmlTensor record in records)
        {
            TensorData t = record.ToTensorData();
            float[] v = t.ToFloatArray();
            if (record.Name.EndsWith(".time_decay", StringComparison.Ordinal))
            {
                for (int i = 0; i < v.Length; i++)
                    v[i] = version == RwkvVersion.V4 ? (float)Math.Log(-(double)v[i]) : (float)Math.Log(-Math.Log(v[i]));
                t = TensorData.FromFloats(t.Name, t.Shape, v);
            }
            else if (record.Name.EndsWith(".time_first", StringComparison.Ordinal) && version == RwkvVersion.V5_1)
            {
                for (int i = 0; i < v.Length; i++)
                    v[i] = (float)Math.Log(v[i]);
                t = TensorData.FromFloats(t.Name, t.Shape, v);
            }
            tensors.Add(t);
        }
        int c = header.EmbeddingSize;
        int heads = version == RwkvVersion.V4 ? 1 : (int)records.Single(r => r.Name == "blocks.0.att.time_decay").Shape[0];
        int size = version == RwkvVersion.V4 ? 1 : c / heads;
        int ffn = (int)records.Single(r => r.Name == "blocks.0.ffn.key.weight").Shape[0];
        var config = new RwkvConfig(version, header.LayerCount, c, header.VocabularySize, heads, size, ffn);
        return new RwkvModel(config, tensors, path);
    }
}
