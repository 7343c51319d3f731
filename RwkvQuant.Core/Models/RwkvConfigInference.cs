using RwkvQuant.Formats;

namespace RwkvQuant.Models;

/// <summary>
/// Infers an <see cref="RwkvConfig"/> from canonical tensors (BlinkDL's names and shapes), the way rwkv.cpp and its
/// converter tell the versions apart: <c>att.k_k</c> → v7; <c>att.time_maa_x</c> → v6; <c>att.ln_x.weight</c> with
/// <c>att.gate.weight</c> → v5.2, without → v5.1; otherwise v4. Head count H and size N come from a per-head tensor:
/// v7 <c>att.r_k</c> (H, N); v6 and v5.2 <c>att.time_faaaa</c> (H, N); v5.1 <c>att.time_decay</c> (H); v4 has none
/// (H = N = 1).
/// </summary>
internal static class RwkvConfigInference
{
    /// <summary>The version whose marker tensors <paramref name="hasTensor"/> reports (canonical or rwkv.cpp names).</summary>
    public static RwkvVersion DetectVersion(Func<string, bool> hasTensor)
    {
        ArgumentNullException.ThrowIfNull(hasTensor);
        if (hasTensor("blocks.0.att.k_k"))
            return RwkvVersion.V7;
        if (hasTensor("blocks.0.att.time_maa_x"))
            return RwkvVersion.V6;
        if (hasTensor("blocks.0.att.ln_x.weight"))
            return hasTensor("blocks.0.att.gate.weight") ? RwkvVersion.V5_2 : RwkvVersion.V5_1;
        return RwkvVersion.V4;
    }

    /// <summary>Number of blocks: the count of consecutive <c>blocks.{i}.ln1.weight</c> from 0.</summary>
    public static int CountLayers(Func<string, bool> hasTensor)
    {
        int layers = 0;
        while (hasTensor($"blocks.{layers}.ln1.weight"))
            layers++;
        return layers;
    }

    /// <summary>Infers and checks the config of canonical <paramref name="tensors"/> (<see cref="InferFromShapes"/>);
    /// <paramref name="source"/> names them in errors.</summary>
    /// <exception cref="InvalidDataException">A tensor is missing or has an unexpected shape.</exception>
    public static RwkvConfig Infer(IReadOnlyDictionary<string, TensorData> tensors, string source)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        return InferFromShapes(tensors.ToDictionary(t => t.Key, t => t.Value.Shape, StringComparer.Ordinal), source);
    }

    /// <summary>
    /// Infers the config from canonical tensor names and shapes alone, then checks that every tensor the config needs is
    /// there with its shape (<see cref="RwkvModelSchema"/>); <paramref name="source"/> names them in errors.
    /// </summary>
    /// <exception cref="InvalidDataException">A tensor is missing or has an unexpected shape.</exception>
    public static RwkvConfig InferFromShapes(IReadOnlyDictionary<string, IReadOnlyList<long>> tensors, string source)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(source);

        IReadOnlyList<long> Shape(string name, int rank)
        {
            if (!tensors.TryGetValue(name, out IReadOnlyList<long>? shape))
                throw ModelFileError.Create(source, name, "tensor is missing.");
            if (shape.Count != rank)
                throw ModelFileError.Create(source, name, $"expected {rank} dimensions, got shape [{string.Join(", ", shape)}].");
            return shape;
        }

        RwkvVersion version = DetectVersion(tensors.ContainsKey);
        int layers = CountLayers(tensors.ContainsKey);
        if (layers == 0)
            throw ModelFileError.Create(source, "blocks.0.ln1.weight", "tensor is missing: the model has no blocks.");

        IReadOnlyList<long> embedding = Shape("emb.weight", 2); // [V, C]
        int vocabulary = checked((int)embedding[0]);
        int width = checked((int)embedding[1]);
        int feedForward = checked((int)Shape("blocks.0.ffn.key.weight", 2)[0]); // [F, C]

        (int heads, int headSize) = version switch
        {
            RwkvVersion.V7 => HeadsOf(Shape("blocks.0.att.r_k", 2)),
            RwkvVersion.V6 or RwkvVersion.V5_2 => HeadsOf(Shape("blocks.0.att.time_faaaa", 2)),
            RwkvVersion.V5_1 => (checked((int)Shape("blocks.0.att.time_decay", 1)[0]), 0),
            _ => (1, 1),
        };
        if (version == RwkvVersion.V5_1)
        {
            if (heads <= 0 || width % heads != 0)
                throw ModelFileError.Create(source, "blocks.0.att.time_decay", $"{heads} heads do not divide the width {width}.");
            headSize = width / heads;
        }
        else if (version != RwkvVersion.V4 && heads * headSize != width)
        {
            throw ModelFileError.Create(source, null, $"{heads} heads of size {headSize} do not make the width {width}.");
        }
        var config = new RwkvConfig(version, layers, width, vocabulary, heads, headSize, feedForward);
        RwkvModelSchema.Check(config, tensors, source);
        return config;
    }

    private static (int Heads, int HeadSize) HeadsOf(IReadOnlyList<long> shape) => (checked((int)shape[0]), checked((int)shape[1]));
}
