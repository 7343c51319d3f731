using System.Text.Json;
using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar.Ggml;

namespace RwkvQuant.ModelFiles;

/// <summary><see cref="GgmlBlockTensor"/>: field <c>type</c> (<c>Q4_0</c>, <c>Q4_1</c>, <c>Q5_0</c>, <c>Q5_1</c>,
/// <c>Q8_0</c>); part <c>.blocks</c> U8, the blocks exactly as ggml lays them out.</summary>
internal sealed class GgmlBlockTensorCodec : QuantizedTensorCodec
{
    public override string SchemeId => "ggml_block";

    public override bool CanEncode(QuantizedTensor tensor) => tensor is GgmlBlockTensor;

    public override void Encode(QuantizedTensor tensor, Utf8JsonWriter parameters, TensorPartWriter parts)
    {
        var t = (GgmlBlockTensor)tensor;
        parameters.WriteString("type", t.Type.ToString());
        parts.Add("blocks", TensorDataType.U8, [t.Blocks.Length], t.Blocks);
    }

    public override QuantizedTensor Decode(string name, int rows, int columns, JsonElement parameters, TensorPartReader parts)
    {
        GgmlType type = parts.Enum<GgmlType>(parameters, "type");
        if (!type.IsQuantized())
            throw parts.Error($"ggml type {type} is not a block-quantized type.");
        long size = type.StorageSize((long)rows * columns);
        if (size < 0)
            throw parts.Error($"[{rows}, {columns}] is not a whole number of {type} blocks of 32 values.");
        return new GgmlBlockTensor(name, rows, columns, type, parts.Take("blocks", TensorDataType.U8, size));
    }
}
