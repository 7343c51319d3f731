using RwkvQuant.Models;

namespace RwkvQuant.ModelFiles;

/// <summary>
/// What a <c>.rwkvq</c> file's header says — the architecture and every tensor's scheme, size and stored bits — read and
/// checked without decoding a tensor (<see cref="QuantizedModelFile.ReadHeader"/>): a look at a large model in
/// milliseconds, before deciding to run it (<see cref="Inference.RwkvEngine.Load(string)"/>) or dequantize it.
/// </summary>
public sealed class QuantizedModelHeader
{
    internal QuantizedModelHeader(string path, RwkvConfig config, IReadOnlyList<StoredTensorInfo> tensors)
    {
        Path = path;
        Config = config;
        Tensors = tensors;
    }

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>The architecture (checked against the tensors' shapes).</summary>
    public RwkvConfig Config { get; }

    /// <summary>Every stored tensor: the quantized ones (in the file's order), then the full-precision ones.</summary>
    public IReadOnlyList<StoredTensorInfo> Tensors { get; }

    /// <summary>Weights in quantized tensors.</summary>
    public long QuantizedParameterCount => Tensors.Where(t => t.IsQuantized).Sum(t => t.Parameters);

    /// <summary>Stored bits of the quantized tensors over their weights.</summary>
    public double QuantizedBitsPerWeight => Ratio(Tensors.Where(t => t.IsQuantized));

    /// <summary>Every weight of the model.</summary>
    public long ParameterCount => Tensors.Sum(t => t.Parameters);

    /// <summary>Stored bits of every tensor over every weight.</summary>
    public double BitsPerWeight => Ratio(Tensors);

    private static double Ratio(IEnumerable<StoredTensorInfo> tensors)
    {
        long parameters = 0, bits = 0;
        foreach (StoredTensorInfo tensor in tensors)
        {
            parameters += tensor.Parameters;
            bits += tensor.StoredBits;
        }
        return parameters == 0 ? 0 : (double)bits / parameters;
    }
}
