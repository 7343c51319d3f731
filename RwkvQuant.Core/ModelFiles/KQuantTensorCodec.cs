using System.Text.Json;
using RwkvQuant.Formats;
using RwkvQuant.Kernels.Packed;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar.KQuants;

namespace RwkvQuant.ModelFiles;

/// <summary><see cref="KQuantTensor"/>: field <c>type</c> (<c>Q2_K</c>, <c>Q3_K</c>, <c>Q4_K</c>, <c>IQ4_XS</c>,
/// <c>IQ4_NL</c>, <c>IQ3_S</c>); part <c>.blocks</c> U8, the blocks exactly as ggml lays them out.</summary>
internal sealed class KQuantTensorCodec : QuantizedTensorCodec
{
    public override string SchemeId => "ggml_kquant";

    public override bool CanEncode(QuantizedTensor tensor) => tensor is KQuantTensor;

    public override void Encode(QuantizedTensor tensor, Utf8JsonWriter parameters, TensorPartWriter parts)
    {
        var t = (KQuantTensor)tensor;
        parameters.WriteString("type", t.Type.ToString());
        parts.Add("blocks", TensorDataType.U8, [t.Blocks.Length], t.Blocks);
    }

    public override QuantizedTensor Decode(string name, int rows, int columns, JsonElement parameters, TensorPartReader parts)
    {
        KQuantType type = parts.Enum<KQuantType>(parameters, "type");
        if (columns % type.ValuesPerBlock() != 0)
            throw parts.Error($"[{rows}, {columns}] is not a whole number of {type} blocks of {type.ValuesPerBlock()} values per row.");
        return new KQuantTensor(name, rows, columns, type, parts.Take("blocks", TensorDataType.U8, type.StorageSize((long)rows * columns)));
    }
}
