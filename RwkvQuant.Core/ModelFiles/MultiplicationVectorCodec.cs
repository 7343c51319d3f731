using System.Runtime.InteropServices;
using System.Text.Json;
using RwkvQuant.Codebooks;
using RwkvQuant.Formats;
using RwkvQuant.Packing;
using RwkvQuant.Quantization;
using RwkvQuant.Vector;

namespace RwkvQuant.ModelFiles;

/// <summary>
/// <see cref="MultiplicationVectorTensor"/> (a multiplication vector from a codebook optimizer), stored as <c>[1, C]</c>:
/// fields <c>method, bits, group_size, vector_shape</c> (the vector's own shape, e.g. <c>[1, 1, C]</c>); parts
/// <c>.codes</c> U8 (packed codes in channel order), <c>.codebooks</c> I8 <c>[groups, 2^b]</c> and
/// <c>.codebook_scales</c> F16 <c>[groups]</c>.
/// </summary>
internal sealed class MultiplicationVectorCodec : QuantizedTensorCodec
{
    public override string SchemeId => "codebook_vector";

    public override bool CanEncode(QuantizedTensor tensor) => tensor is MultiplicationVectorTensor;

    public override void Encode(QuantizedTensor tensor, Utf8JsonWriter parameters, TensorPartWriter parts)
    {
        QuantizedMultiplicationVector v = ((MultiplicationVectorTensor)tensor).Vector;
        CodebookStore store = v.Codebooks;
        if (store.Precision != CodebookPrecision.Int8WithScale || store.SvdRank != 0)
            throw new ArgumentException($"Vector '{v.Name}' has {store.Describe()} codebooks; the .rwkvq format stores int8+f16 vector codebooks.", nameof(tensor));
        parameters.WriteString("method", v.Method);
        parameters.WriteNumber("bits", v.Bits);
        parameters.WriteNumber("group_size", v.GroupSize);
        parameters.WriteStartArray("vector_shape");
        foreach (long dimension in v.Shape)
            parameters.WriteNumberValue(dimension);
        parameters.WriteEndArray();
        parts.Add("codes", TensorDataType.U8, [v.PackedCodes.Length], v.PackedCodes);
        parts.Add("codebooks", TensorDataType.I8, [store.Groups, store.Length], MemoryMarshal.AsBytes(store.Int8));
        parts.Add("codebook_scales", TensorDataType.F16, [store.Groups], MemoryMarshal.AsBytes(store.Int8Scales));
    }

    public override QuantizedTensor Decode(string name, int rows, int columns, JsonElement parameters, TensorPartReader parts)
    {
        if (rows != 1)
            throw parts.Error($"a codebook vector is stored as [1, C], not [{rows}, {columns}].");
        string method = parts.Text(parameters, "method");
        int bits = parts.Int(parameters, "bits", 1, 8);
        int groupSize = parts.Int(parameters, "group_size", 1, 65_536);
        long[] shape = Shape(parameters, parts);
        long count = 1;
        foreach (long dimension in shape)
            count = checked(count * dimension);
        if (count != columns)
            throw parts.Error($"vector_shape [{string.Join(", ", shape)}] holds {count} values, but the tensor has {columns}.");
        int groups = (columns + groupSize - 1) / groupSize, entries = 1 << bits;
        byte[] packed = parts.Take("codes", TensorDataType.U8, BitPacking.PackedLength(columns, bits));
        sbyte[] int8 = MemoryMarshal.Cast<byte, sbyte>(parts.Take("codebooks", TensorDataType.I8, groups, entries)).ToArray();
        Half[] scales = MemoryMarshal.Cast<byte, Half>(parts.Take("codebook_scales", TensorDataType.F16, groups)).ToArray();
        CodebookStore store = CodebookStore.FromInt8(groups, entries, int8, scales);
        int[] codes = BitPacking.Unpack(packed, bits, columns);
        return new MultiplicationVectorTensor(new QuantizedMultiplicationVector(name, shape, groupSize, bits, codes, store, method, []));
    }

    private static long[] Shape(JsonElement parameters, TensorPartReader parts)
    {
        if (!parameters.TryGetProperty("vector_shape", out JsonElement element) || element.ValueKind != JsonValueKind.Array || element.GetArrayLength() is < 1 or > 8)
            throw parts.Error("metadata field 'vector_shape' is missing or not an array of 1 to 8 dimensions.");
        var shape = new List<long>();
        foreach (JsonElement dimension in element.EnumerateArray())
        {
            if (dimension.ValueKind != JsonValueKind.Number || !dimension.TryGetInt64(out long value) || value < 1)
                throw parts.Error($"metadata field 'vector_shape' holds {dimension.GetRawText()}, expected a positive integer.");
            shape.Add(value);
        }
        return [.. shape];
    }
}
