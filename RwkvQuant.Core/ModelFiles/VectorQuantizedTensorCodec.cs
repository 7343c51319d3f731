using System.Runtime.InteropServices;
using System.Text.Json;
using RwkvQuant.Formats;
using RwkvQuant.Packing;
using RwkvQuant.Quantization;
using RwkvQuant.Vector;

namespace RwkvQuant.ModelFiles;

/// <summary>
/// <see cref="VectorQuantizedTensor"/> (k-means VQ, GPTVQ): fields <c>method, dimension, bits, group_rows,
/// group_columns, codebook_storage</c> (<c>int8</c>, <c>f16</c> or <c>svd</c>) and <c>svd_rank</c>; parts <c>.codes</c>
/// U8 (packed codes) and either <c>.codebooks</c> I8 <c>[groups, 2^b·d]</c> with <c>.codebook_scales</c> F16
/// <c>[groups]</c>, or <c>.codebooks</c> F16 <c>[groups, 2^b·d]</c>, or <c>.svd_u</c> F16 <c>[groups, r]</c> with
/// <c>.svd_v</c> F16 <c>[r, 2^b·d]</c>.
/// </summary>
internal sealed class VectorQuantizedTensorCodec : QuantizedTensorCodec
{
    /// <summary>Largest vector dimension accepted from a file (bounds what a small file can expand to).</summary>
    private const int MaxDimension = 1024;

    public override string SchemeId => "vector";

    public override bool CanEncode(QuantizedTensor tensor) => tensor is VectorQuantizedTensor;

    public override void Encode(QuantizedTensor tensor, Utf8JsonWriter parameters, TensorPartWriter parts)
    {
        var t = (VectorQuantizedTensor)tensor;
        CodebookStore store = t.Codebooks;
        parameters.WriteString("method", t.Method);
        parameters.WriteNumber("dimension", t.Dimension);
        parameters.WriteNumber("bits", t.Bits);
        parameters.WriteNumber("group_rows", t.GroupRows);
        parameters.WriteNumber("group_columns", t.GroupColumns);
        parameters.WriteString("codebook_storage", store.SvdRank > 0 ? "svd" : store.Precision == CodebookPrecision.Int8WithScale ? "int8" : "f16");
        parameters.WriteNumber("svd_rank", store.SvdRank);
        parts.Add("codes", TensorDataType.U8, [t.PackedCodes.Length], t.PackedCodes);
        if (store.SvdRank > 0)
        {
            parts.Add("svd_u", TensorDataType.F16, [store.Groups, store.SvdRank], MemoryMarshal.AsBytes(store.SvdU));
            parts.Add("svd_v", TensorDataType.F16, [store.SvdRank, store.Length], MemoryMarshal.AsBytes(store.SvdV));
        }
        else if (store.Precision == CodebookPrecision.Int8WithScale)
        {
            parts.Add("codebooks", TensorDataType.I8, [store.Groups, store.Length], MemoryMarshal.AsBytes(store.Int8));
            parts.Add("codebook_scales", TensorDataType.F16, [store.Groups], MemoryMarshal.AsBytes(store.Int8Scales));
        }
        else
        {
            parts.Add("codebooks", TensorDataType.F16, [store.Groups, store.Length], MemoryMarshal.AsBytes(store.Fp16));
        }
    }

    public override QuantizedTensor Decode(string name, int rows, int columns, JsonElement parameters, TensorPartReader parts)
    {
        string method = parts.Text(parameters, "method");
        int dimension = parts.Int(parameters, "dimension", 1, MaxDimension);
        int bits = parts.Int(parameters, "bits", 1, 16);
        int groupRows = parts.Int(parameters, "group_rows", 1, int.MaxValue);
        int groupColumns = parts.Int(parameters, "group_columns", 1, int.MaxValue);
        string storage = parts.Text(parameters, "codebook_storage");
        int rank = parts.Int(parameters, "svd_rank", 0, int.MaxValue);
        var layout = new VectorLayout(rows, columns, dimension, bits, groupRows, groupColumns);
        try
        {
            layout.Validate(name);
        }
        catch (ArgumentException exception)
        {
            throw parts.Error(exception.Message);
        }
        int groups = layout.Groups, length = layout.CodebookLength;
        byte[] codes = parts.Take("codes", TensorDataType.U8, BitPacking.PackedLength(layout.CodeCount, bits));
        CodebookStore store = storage switch
        {
            "int8" when rank == 0 => CodebookStore.FromInt8(groups, length,
                MemoryMarshal.Cast<byte, sbyte>(parts.Take("codebooks", TensorDataType.I8, groups, length)).ToArray(),
                Halves(parts.Take("codebook_scales", TensorDataType.F16, groups))),
            "f16" when rank == 0 => CodebookStore.FromFp16(groups, length, Halves(parts.Take("codebooks", TensorDataType.F16, groups, length))),
            "svd" when rank >= 1 && rank <= Math.Min(groups, length) => CodebookStore.FromSvd(groups, length, rank,
                Halves(parts.Take("svd_u", TensorDataType.F16, groups, rank)),
                Halves(parts.Take("svd_v", TensorDataType.F16, rank, length))),
            _ => throw parts.Error($"codebook storage '{storage}' with SVD rank {rank} is not one of int8, f16 (rank 0) or svd (rank 1..{Math.Min(groups, length)})."),
        };
        return VectorQuantizedTensor.FromStoredParts(name, layout, codes, store, method);
    }

    private static Half[] Halves(byte[] bytes) => MemoryMarshal.Cast<byte, Half>(bytes).ToArray();
}
