using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;

namespace RwkvQuant.Scalar.Ggml;

/// <summary>
/// Quantizes whole rwkv.cpp model files the way rwkv.cpp's <c>quantize</c> does, byte for byte: the header is kept
/// with the file version set to 101 and the data type set to the target; records keep their order; the 2-D FP32/FP16
/// matrices rwkv.cpp selects are quantized (see <see cref="IsQuantizedByRwkvCpp"/>), every other record is copied as
/// stored.
/// </summary>
public static class GgmlQuantization
{
    /// <summary>Substrings of names rwkv.cpp never quantizes: RWKV-7's LoRA matrices and <c>r_k</c>.</summary>
    private static readonly string[] KeptByName = ["att.v1", "att.v2", "att.g1", "att.g2", "att.a1", "att.a2", "att.w1", "att.w2", "att.r_k"];

    /// <summary>
    /// True for the records rwkv.cpp quantizes: 2-D, stored as FP32 or FP16, not <c>emb.weight</c> or
    /// <c>head.weight</c>, and not a name containing <c>att.v1, att.v2, att.g1, att.g2, att.a1, att.a2, att.w1, att.w2</c>
    /// or <c>att.r_k</c> (RWKV-7's LoRA matrices and <c>r_k</c>; RWKV-6's <c>att.time_maa_w1</c> and friends do not
    /// match and are quantized).
    /// </summary>
    public static bool IsQuantizedByRwkvCpp(GgmlTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        return tensor.Shape.Length == 2 &&
               tensor.Type is GgmlType.F32 or GgmlType.F16 &&
               tensor.Name is not ("emb.weight" or "head.weight") &&
               !KeptByName.Any(k => tensor.Name.Contains(k, StringComparison.Ordinal));
    }

    /// <summary>
    /// Reads the FP32 or FP16 rwkv.cpp file <paramref name="inputPath"/>, quantizes the matrices rwkv.cpp quantizes to
    /// <paramref name="type"/> and writes the result to <paramref name="outputPath"/> atomically (the target is
    /// replaced only once the whole file is written).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="type"/> is not Q4_0, Q4_1, Q5_0, Q5_1 or Q8_0.</exception>
    /// <exception cref="InvalidDataException">The input is not a well-formed FP32/FP16 rwkv.cpp file, or a matrix to be
    /// quantized has a column count that is not a multiple of 32 or holds NaN or infinity (the message names the file
    /// and the tensor).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; the output is
    /// left as it was.</exception>
    public static void QuantizeFile(string inputPath, string outputPath, GgmlType type,
        IProgress<GgmlQuantizationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(inputPath);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        _ = new GgmlQuantizerOptions(type); // validates the target type

        var (header, records) = GgmlReader.Read(inputPath);
        if (header.DataType is not (GgmlType.F32 or GgmlType.F16))
            throw ModelFileError.Create(inputPath, null, $"the file's data type is {header.DataType}; only FP32 and FP16 files can be quantized.");

        AtomicFile.Write(outputPath, stream =>
        {
            GgmlRecordWriter.WriteHeader(stream, header with { FileVersion = GgmlHeader.CurrentFileVersion, DataType = type });
            for (int i = 0; i < records.Count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                GgmlTensor record = records[i];
                bool quantize = IsQuantizedByRwkvCpp(record);
                GgmlRecordWriter.WriteRecord(stream, quantize ? Quantize(record, type, inputPath) : record);
                progress?.Report(new GgmlQuantizationProgress(record.Name, quantize, i + 1, records.Count));
            }
        });
    }

    private static GgmlTensor Quantize(GgmlTensor record, GgmlType type, string path)
    {
        var (quantized, problem) = GgmlQuantizer.TryQuantize(record.ToTensorData(), type);
        if (quantized is null)
            throw ModelFileError.Create(path, record.Name, $"the tensor {problem}");
        return record with { Type = quantized.Type, Data = quantized.Blocks.ToArray() };
    }
}
