namespace RwkvQuant.Formats.Ggml;

/// <summary>One record of an rwkv.cpp model file, exactly as stored (before the converter's transforms are undone).</summary>
/// <param name="Name">The key, as in the file.</param>
/// <param name="Type">Stored type.</param>
/// <param name="Shape">Shape in PyTorch order (the file stores it reversed).</param>
/// <param name="Data">Stored bytes: values, or blocks for the quantized types.</param>
public sealed record GgmlTensor(string Name, GgmlType Type, long[] Shape, byte[] Data)
{
    /// <summary>Number of values.</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>The values as float32 (quantized blocks dequantized), in a tensor of the same name and shape.</summary>
    public TensorData ToTensorData()
    {
        var values = new float[ElementCount];
        GgmlBlocks.Dequantize(Type, Data, values);
        return TensorData.FromFloats(Name, Shape, values);
    }
}
