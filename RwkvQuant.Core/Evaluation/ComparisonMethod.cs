using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar.Ggml;
using RwkvQuant.Scalar.Gptq;
using RwkvQuant.Scalar.Rtn;
using RwkvQuant.Vector.Gptvq;
using RwkvQuant.Vector.KMeans;

namespace RwkvQuant.Evaluation;

/// <summary>One row of a <see cref="QuantizerComparison"/>: a name and a quantizer (scalar or vector).</summary>
internal sealed record ComparisonMethod(string Name, bool RequiresHessian, Func<TensorData, Hessian?, CancellationToken, QuantizedTensor> Quantize)
{
    public static ComparisonMethod Of(IScalarQuantizer quantizer)
    {
        ArgumentNullException.ThrowIfNull(quantizer);
        return new(quantizer.Name, quantizer.RequiresHessian, quantizer.Quantize);
    }

    public static ComparisonMethod Of(IVectorQuantizer quantizer)
    {
        ArgumentNullException.ThrowIfNull(quantizer);
        return new(quantizer.Name, quantizer.RequiresHessian, quantizer.Quantize);
    }

    /// <summary>
    /// The baselines every comparison table carries, by key: RTN and GPTQ at 3 and 4 bits (asymmetric, groups of 64,
    /// FP16 scale and zero), k-means VQ and GPTVQ (d = 1, b = 3, one codebook per 2 × 32 weights; GPTVQ also with a
    /// rank-4 SVD of the codebooks), and rwkv.cpp's ggml block formats.
    /// </summary>
    public static IReadOnlyDictionary<string, Func<ComparisonMethod>> Standard { get; } = new Dictionary<string, Func<ComparisonMethod>>(StringComparer.OrdinalIgnoreCase)
    {
        ["rtn3"] = () => Of(new RoundToNearestQuantizer(new RoundToNearestOptions { Bits = 3, GroupSize = 64 })),
        ["rtn4"] = () => Of(new RoundToNearestQuantizer(new RoundToNearestOptions { Bits = 4, GroupSize = 64 })),
        ["gptq3"] = () => Of(new GptqQuantizer(new GptqOptions { Bits = 3, GroupSize = 64 })),
        ["gptq4"] = () => Of(new GptqQuantizer(new GptqOptions { Bits = 4, GroupSize = 64 })),
        ["kmeans"] = () => Of(new KMeansVectorQuantizer(new KMeansOptions { Dimension = 1, Bits = 3 })),
        ["gptvq"] = () => Of(new GptvqQuantizer(new GptvqOptions { Codebooks = new KMeansOptions { Dimension = 1, Bits = 3 } })),
        ["gptvq-svd4"] = () => Of(new GptvqQuantizer(new GptvqOptions { Codebooks = new KMeansOptions { Dimension = 1, Bits = 3 }, SvdRank = 4 }))
            with { Name = "gptvq d1 b3 g2x32 svd4" },
        ["q4_0"] = () => Of(new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q4_0))),
        ["q4_1"] = () => Of(new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q4_1))),
        ["q5_0"] = () => Of(new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q5_0))),
        ["q5_1"] = () => Of(new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q5_1))),
        ["q8_0"] = () => Of(new GgmlQuantizer(new GgmlQuantizerOptions(GgmlType.Q8_0))),
    };
}
