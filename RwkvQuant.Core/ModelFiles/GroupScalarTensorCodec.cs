using System.Text.Json;
using RwkvQuant.Formats;
using RwkvQuant.Packing;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar;

namespace RwkvQuant.ModelFiles;

/// <summary>
/// <see cref="GroupScalarTensor"/> (RTN, GPTQ): fields <c>method, bits, group_size, symmetric, scale_precision,
/// act_order</c>; parts <c>.codes</c> U8 (packed codes), <c>.scales</c> and (asymmetric) <c>.zeros</c>
/// <c>[rows, groups per row]</c> in the scale precision (F16, BF16 or F32; <c>Int6</c>: U8, 6-bit values packed, with
/// <c>.steps</c> F16 <c>[rows, super-blocks per row]</c>), and (act-order) <c>.perm</c> U8 (the packed column order).
/// </summary>
internal sealed class GroupScalarTensorCodec : QuantizedTensorCodec
{
    public override string SchemeId => "group_scalar";

    public override bool CanEncode(QuantizedTensor tensor) => tensor is GroupScalarTensor;

    public override void Encode(QuantizedTensor tensor, Utf8JsonWriter parameters, TensorPartWriter parts)
    {
        var t = (GroupScalarTensor)tensor;
        parameters.WriteString("method", t.Method);
        parameters.WriteNumber("bits", t.Bits);
        parameters.WriteNumber("group_size", t.GroupSize);
        parameters.WriteBoolean("symmetric", t.Symmetric);
        parameters.WriteString("scale_precision", t.ScalePrecision.ToString());
        parameters.WriteBoolean("act_order", t.HasPermutation);
        parts.Add("codes", TensorDataType.U8, [t.PackedCodes.Length], t.PackedCodes);
        if (t.ScalePrecision == ScalePrecision.Int6)
        {
            parts.Add("scales", TensorDataType.U8, [t.StoredScales.Length], t.StoredScales);
            if (!t.Symmetric)
                parts.Add("zeros", TensorDataType.U8, [t.StoredZeros.Length], t.StoredZeros);
            parts.Add("steps", TensorDataType.F16, [t.Rows, t.SuperBlocksPerRow], t.StoredSteps);
        }
        else
        {
            TensorDataType floatType = FloatType(t.ScalePrecision);
            parts.Add("scales", floatType, [t.Rows, t.GroupsPerRow], t.StoredScales);
            if (!t.Symmetric)
                parts.Add("zeros", floatType, [t.Rows, t.GroupsPerRow], t.StoredZeros);
        }
        if (t.HasPermutation)
            parts.Add("perm", TensorDataType.U8, [t.PackedPermutation.Length], t.PackedPermutation);
    }

    public override QuantizedTensor Decode(string name, int rows, int columns, JsonElement parameters, TensorPartReader parts)
    {
        string method = parts.Text(parameters, "method");
        int bits = parts.Int(parameters, "bits", 2, 8);
        int groupSize = parts.Int(parameters, "group_size", 1, int.MaxValue);
        bool symmetric = parts.Flag(parameters, "symmetric");
        ScalePrecision precision = parts.Enum<ScalePrecision>(parameters, "scale_precision");
        bool actOrder = parts.Flag(parameters, "act_order");
        long groupsPerRow = (columns + (long)groupSize - 1) / groupSize;
        byte[] codes = parts.Take("codes", TensorDataType.U8, BitPacking.PackedLength((long)rows * columns, bits));
        byte[] scales, steps = [];
        byte[]? zeros;
        if (precision == ScalePrecision.Int6)
        {
            long packed = BitPacking.PackedLength(rows * groupsPerRow, Int6Scales.ValueBits);
            scales = parts.Take("scales", TensorDataType.U8, packed);
            zeros = symmetric ? null : parts.Take("zeros", TensorDataType.U8, packed);
            steps = parts.Take("steps", TensorDataType.F16, rows, Int6Scales.SuperBlocks((int)groupsPerRow));
        }
        else
        {
            TensorDataType floatType = FloatType(precision);
            scales = parts.Take("scales", floatType, rows, groupsPerRow);
            zeros = symmetric ? null : parts.Take("zeros", floatType, rows, groupsPerRow);
        }
        byte[]? permutation = actOrder
            ? parts.Take("perm", TensorDataType.U8, BitPacking.PackedLength(columns, GroupScalarTensor.PermutationBits(columns)))
            : null;
        return GroupScalarTensor.FromStoredParts(name, rows, columns, method, bits, groupSize, symmetric, precision, codes, scales, zeros, permutation,
            precision == ScalePrecision.Int6 ? steps : null);
    }

    private static TensorDataType FloatType(ScalePrecision precision) => precision switch
    {
        ScalePrecision.F16 => TensorDataType.F16,
        ScalePrecision.BF16 => TensorDataType.BF16,
        _ => TensorDataType.F32,
    };
}
