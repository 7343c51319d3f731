using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;

namespace RwkvQuant.Models;

/// <summary>
/// The tensor changes rwkv.cpp's <c>convert_pytorch_to_ggml.py</c> makes, undone on load (<see cref="ToCanonical"/>)
/// and redone on write (<see cref="ToStored"/>). The converter squeezes every <c>.time_</c> tensor, then:
/// <list type="bullet">
/// <item>v4: <c>time_decay</c> stored as −exp(td).</item>
/// <item>v5.1: <c>time_decay</c> (H) stored as exp(−exp(td)) reshaped (H,1,1); <c>time_first</c> (H) as exp(tf), (H,1,1).</item>
/// <item>v5.2: <c>time_decay</c> (H,N) stored as exp(−exp(td)) unsqueezed to (H,N,1); <c>time_faaaa</c> (H,N) as (H,N,1).</item>
/// <item>v6: <c>time_maa_w1</c> (C,5D) and <c>time_decay_w1</c> (C,D), <c>time_decay_w2</c> (D,C) transposed;
/// <c>time_maa_w2</c> (5,D,C) transposed on axes 1,2; <c>time_decay</c> (1,1,C) reshaped (H,N,1); <c>time_faaaa</c>
/// (H,N) unsqueezed to (H,N,1).</item>
/// <item>v7: <c>x_r, x_w, x_k, x_v, x_a, x_g</c> (1,1,C each) concatenated into <c>att.x_rwkvag</c> (6,1,C);
/// <c>w1, w2, a1, a2, v1, v2, g1, g2</c> transposed.</item>
/// </list>
/// The squeezed token-shift vectors (<c>time_mix_*</c>, <c>time_maa_*</c>) get BlinkDL's (1,1,C) shape back.
/// </summary>
internal static class GgmlConverterTransforms
{
    /// <summary>The six v7 token-shift vectors in the order rwkv.cpp concatenates them.</summary>
    public static readonly string[] V7ShiftVectors = ["x_r", "x_w", "x_k", "x_v", "x_a", "x_g"];

    private static readonly HashSet<string> V7LoraMatrices =
        new(["att.w1", "att.w2", "att.a1", "att.a2", "att.v1", "att.v2", "att.g1", "att.g2"], StringComparer.Ordinal);

    private static readonly HashSet<string> ShiftVectors = new(
        [
            "att.time_mix_k", "att.time_mix_v", "att.time_mix_r", "att.time_mix_g", "ffn.time_mix_k", "ffn.time_mix_r",
            "att.time_maa_x", "att.time_maa_w", "att.time_maa_k", "att.time_maa_v", "att.time_maa_r", "att.time_maa_g",
            "ffn.time_maa_k", "ffn.time_maa_r",
        ],
        StringComparer.Ordinal);

    /// <summary>Converts the stored float32 tensors of an rwkv.cpp file of <paramref name="version"/> to canonical form.</summary>
    public static List<TensorData> ToCanonical(RwkvVersion version, IEnumerable<TensorData> stored, string path)
    {
        ArgumentNullException.ThrowIfNull(stored);
        var result = new List<TensorData>();
        foreach (TensorData tensor in stored)
        {
            string name = tensor.Name;
            string suffix = BlockSuffix(name);
            IReadOnlyList<long> shape = tensor.Shape;
            if (ShiftVectors.Contains(suffix))
            {
                result.Add(tensor.Reshape([1, 1, tensor.ElementCount]));
                continue;
            }
            switch (version, suffix)
            {
                case (RwkvVersion.V7, "att.x_rwkvag"):
                    Expect(path, tensor, 3, shape.Count == 3 && shape[0] == 6 && shape[1] == 1);
                    float[] all = tensor.ToFloatArray();
                    int width = checked((int)shape[2]);
                    string prefix = name[..^"x_rwkvag".Length];
                    for (int i = 0; i < V7ShiftVectors.Length; i++)
                        result.Add(TensorData.FromFloats(prefix + V7ShiftVectors[i], [1, 1, width], all.AsSpan(i * width, width)));
                    break;
                case (RwkvVersion.V7, _) when V7LoraMatrices.Contains(suffix):
                case (RwkvVersion.V6, "att.time_maa_w1" or "att.time_decay_w1" or "att.time_decay_w2"):
                    Expect(path, tensor, 2, shape.Count == 2);
                    result.Add(Transpose(tensor));
                    break;
                case (RwkvVersion.V6, "att.time_maa_w2"):
                    Expect(path, tensor, 3, shape.Count == 3);
                    result.Add(TransposeLastTwo(tensor)); // stored (5, C, D) → (5, D, C)
                    break;
                case (RwkvVersion.V6, "att.time_decay"):
                    result.Add(tensor.Reshape([1, 1, tensor.ElementCount])); // stored (H, N, 1)
                    break;
                case (RwkvVersion.V6 or RwkvVersion.V5_2, "att.time_faaaa"):
                    Expect(path, tensor, 3, shape.Count == 3 && shape[2] == 1);
                    result.Add(tensor.Reshape([shape[0], shape[1]])); // stored (H, N, 1)
                    break;
                case (RwkvVersion.V5_2, "att.time_decay"):
                    Expect(path, tensor, 3, shape.Count == 3 && shape[2] == 1);
                    result.Add(Map(tensor, [shape[0], shape[1]], s => Math.Log(-Math.Log(s)))); // s = exp(−exp(td))
                    break;
                case (RwkvVersion.V5_1, "att.time_decay"):
                    result.Add(Map(tensor, [tensor.ElementCount], s => Math.Log(-Math.Log(s)))); // stored (H, 1, 1)
                    break;
                case (RwkvVersion.V5_1, "att.time_first"):
                    result.Add(Map(tensor, [tensor.ElementCount], Math.Log)); // s = exp(tf)
                    break;
                case (RwkvVersion.V4, "att.time_decay"):
                    result.Add(Map(tensor, [tensor.ElementCount], s => Math.Log(-s))); // s = −exp(td)
                    break;
                default:
                    result.Add(tensor);
                    break;
            }
        }
        return result;
    }

    /// <summary>Converts a canonical model's tensors to what rwkv.cpp's converter writes (float32, file order).</summary>
    public static List<TensorData> ToStored(RwkvModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        RwkvConfig config = model.Config;
        int heads = config.HeadCount, headSize = config.HeadSize;
        var result = new List<TensorData>();
        foreach (TensorData tensor in model.Tensors.Values)
        {
            string name = tensor.Name;
            string suffix = BlockSuffix(name);
            IReadOnlyList<long> shape = tensor.Shape;
            if (ShiftVectors.Contains(suffix))
            {
                result.Add(tensor.Reshape([tensor.ElementCount]));
                continue;
            }
            switch (config.Version, suffix)
            {
                case (RwkvVersion.V7, "att.x_r"):
                    string prefix = name[..^"x_r".Length];
                    var all = new List<float>();
                    foreach (string vector in V7ShiftVectors)
                        all.AddRange(model[prefix + vector].ToFloatArray());
                    result.Add(TensorData.FromFloats(prefix + "x_rwkvag", [6, 1, config.EmbeddingSize], all.ToArray()));
                    break;
                case (RwkvVersion.V7, "att.x_w" or "att.x_k" or "att.x_v" or "att.x_a" or "att.x_g"):
                    break; // written inside x_rwkvag
                case (RwkvVersion.V7, _) when V7LoraMatrices.Contains(suffix):
                case (RwkvVersion.V6, "att.time_maa_w1" or "att.time_decay_w1" or "att.time_decay_w2"):
                    result.Add(Transpose(tensor));
                    break;
                case (RwkvVersion.V6, "att.time_maa_w2"):
                    result.Add(TransposeLastTwo(tensor));
                    break;
                case (RwkvVersion.V6, "att.time_decay"):
                    result.Add(tensor.Reshape([heads, headSize, 1]));
                    break;
                case (RwkvVersion.V6 or RwkvVersion.V5_2, "att.time_faaaa"):
                    result.Add(tensor.Reshape([heads, headSize, 1]));
                    break;
                case (RwkvVersion.V5_2, "att.time_decay"):
                    result.Add(MapSingle(tensor, [heads, headSize, 1], td => MathF.Exp(-MathF.Exp(td))));
                    break;
                case (RwkvVersion.V5_1, "att.time_decay"):
                    result.Add(MapSingle(tensor, [tensor.ElementCount, 1, 1], td => MathF.Exp(-MathF.Exp(td))));
                    break;
                case (RwkvVersion.V5_1, "att.time_first"):
                    result.Add(MapSingle(tensor, [tensor.ElementCount, 1, 1], MathF.Exp));
                    break;
                case (RwkvVersion.V4, "att.time_decay"):
                    result.Add(MapSingle(tensor, [tensor.ElementCount], td => -MathF.Exp(td)));
                    break;
                case (RwkvVersion.V4 or RwkvVersion.V5_1 or RwkvVersion.V5_2 or RwkvVersion.V6, _) when suffix.StartsWith("att.time_", StringComparison.Ordinal):
                    result.Add(tensor.Reshape(shape.Where(d => d != 1).ToArray() is { Length: > 0 } squeezed ? squeezed : [1]));
                    break;
                default:
                    result.Add(tensor);
                    break;
            }
        }
        return result;
    }

    /// <summary>The part of a name after <c>blocks.{i}.</c> (the whole name outside the blocks).</summary>
    internal static string BlockSuffix(string name)
    {
        if (!name.StartsWith("blocks.", StringComparison.Ordinal))
            return name;
        int dot = name.IndexOf('.', "blocks.".Length);
        return dot < 0 ? name : name[(dot + 1)..];
    }

    private static void Expect(string path, TensorData tensor, int rank, bool ok)
    {
        if (!ok)
            throw ModelFileError.Create(path, tensor.Name, $"unexpected stored shape [{string.Join(", ", tensor.Shape)}] ({rank} dimensions expected in rwkv.cpp's layout).");
    }

    /// <summary>(R, K) → (K, R).</summary>
    private static TensorData Transpose(TensorData tensor)
    {
        int rows = checked((int)tensor.Shape[0]), columns = checked((int)tensor.Shape[1]);
        float[] source = tensor.ToFloatArray();
        var target = new float[source.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
                target[c * rows + r] = source[r * columns + c];
        return TensorData.FromFloats(tensor.Name, [columns, rows], target);
    }

    /// <summary>(B, R, K) → (B, K, R).</summary>
    private static TensorData TransposeLastTwo(TensorData tensor)
    {
        int batch = checked((int)tensor.Shape[0]), rows = checked((int)tensor.Shape[1]), columns = checked((int)tensor.Shape[2]);
        float[] source = tensor.ToFloatArray();
        var target = new float[source.Length];
        int plane = rows * columns;
        for (int b = 0; b < batch; b++)
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < columns; c++)
                    target[b * plane + c * rows + r] = source[b * plane + r * columns + c];
        return TensorData.FromFloats(tensor.Name, [batch, columns, rows], target);
    }

    /// <summary>Applies <paramref name="f"/> in double precision (inverting the converter's float32 math).</summary>
    private static TensorData Map(TensorData tensor, long[] shape, Func<double, double> f)
    {
        float[] values = tensor.ToFloatArray();
        for (int i = 0; i < values.Length; i++)
            values[i] = (float)f(values[i]);
        return TensorData.FromFloats(tensor.Name, shape, values);
    }

    /// <summary>Applies <paramref name="f"/> in float32, as the converter does.</summary>
    private static TensorData MapSingle(TensorData tensor, long[] shape, Func<float, float> f)
    {
        float[] values = tensor.ToFloatArray();
        for (int i = 0; i < values.Length; i++)
            values[i] = f(values[i]);
        return TensorData.FromFloats(tensor.Name, shape, values);
    }
}
