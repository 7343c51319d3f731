using System.Globalization;
using RwkvQuant.Calibration;
using RwkvQuant.Codebooks;
using RwkvQuant.Evaluation;
using RwkvQuant.Formats;
using RwkvQuant.Formats.Ggml;
using RwkvQuant.Kernels.Packed;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;
using RwkvQuant.Proxy;
using RwkvQuant.Quantization;
using RwkvQuant.Scalar;
using RwkvQuant.Scalar.Ggml;
using RwkvQuant.Scalar.Gptq;
using RwkvQuant.Scalar.KQuants;
using RwkvQuant.Scalar.Rtn;
using RwkvQuant.Vector.Gptvq;
using RwkvQuant.Vector.KMeans;

namespace RwkvQuant.Comparison;

/// <summary>
/// One row of a <see cref="QuantizerComparison"/>: a name and either a quantizer (scalar or vector) applied to every
/// block matrix with the float32 model's Hessians, or a whole pipeline (<see cref="Pipeline"/>: a
/// <see cref="HybridQuantizer"/> made for the model, with its own sequential calibration). <see cref="Standard"/> holds
/// the named rows of <c>rwkvquant compare</c>; <see cref="Parse"/> reads a method key as the command line does.
/// </summary>
/// <param name="Name">The row's name in the table.</param>
/// <param name="RequiresHessian">Whether <paramref name="Quantize"/> needs the layer's Hessian.</param>
/// <param name="Quantize">Quantizes one block matrix (per-matrix rows); null for a pipeline row.</param>
/// <param name="Pipeline">Makes the pipeline for the model from the float32 Hessians and the calibration, with a line
/// describing it (pipeline rows); null for a per-matrix row.</param>
public sealed record ComparisonMethod(string Name, bool RequiresHessian, Func<TensorData, Hessian?, CancellationToken, QuantizedTensor>? Quantize,
    Func<RwkvModel, IReadOnlyDictionary<string, Hessian>, CalibrationData, (HybridQuantizer Quantizer, string Description)>? Pipeline = null)
{
    /// <summary>A pipeline row: the hybrid quantizer that <paramref name="plan"/> makes for the model.</summary>
    public static ComparisonMethod OfPipeline(string name, Func<RwkvModel, HybridPlan> plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return new(name, RequiresHessian: false, Quantize: null, (model, _, _) =>
        {
            HybridPlan p = plan(model);
            return (p.Build(), $"plan: {p}");
        });
    }

    /// <summary>A pipeline row with a hand-built quantizer (ablations).</summary>
    public static ComparisonMethod OfPipeline(string name, Func<RwkvModel, HybridQuantizer> quantizer)
    {
        ArgumentNullException.ThrowIfNull(quantizer);
        return new(name, RequiresHessian: false, Quantize: null, (model, _, _) =>
        {
            HybridQuantizer q = quantizer(model);
            return (q, $"selector: {q.Selector.Name}; {q.ScalarQuantizer.Name} | {q.VectorQuantizer.Name}; codebooks: {q.CodebookOptimizer?.Name ?? "none"}");
        });
    }

    /// <summary>
    /// A pipeline whose plan is a budget allocation (<see cref="HybridPlan.ForAllocation"/>) made with the float model's
    /// Hessians, which a comparison has anyway; the allocation's time and picks go into the description.
    /// </summary>
    public static ComparisonMethod OfAllocation(string name, double target, bool codebooks, bool vector, bool sensitivity) =>
        new(name, RequiresHessian: true, Quantize: null, (model, hessians, calibration) =>
        {
            var stopwatch = System.Diagnostics.Stopwatch.StartNew();
            HybridPlan p = HybridPlan.ForAllocation(model, hessians, target, codebooks, vector,
                sensitivity ? HybridPlan.SensitivitySamples(calibration) : null);
            return (p.Build(), string.Create(CultureInfo.InvariantCulture, $"plan ({stopwatch.Elapsed.TotalSeconds:F0} s to allocate): {p}"));
        });

    /// <summary>
    /// A method by key: one of <see cref="Standard"/>, a pipeline with a bit budget, <c>hybrid@3.5</c> /
    /// <c>hybrid-nocb@3.5</c> (see <see cref="HybridPlan.ForBitsPerWeight"/>), a budget allocation <c>alloc@3.5</c>,
    /// <c>alloc-nocb@3.5</c> (no codebooks), <c>alloc-sq@3.5</c> (SQ settings only), <c>alloc-h@3.5</c> (H-errors without the
    /// KL sensitivities; see <see cref="HybridPlan.ForAllocation"/>),
    /// or GPTVQ with chosen codebooks,
    /// <c>gptvq-dD-bB-gRxC</c> (d = D, b = B index bits per vector, one int8 codebook per R rows × C columns, lazy-update
    /// blocks of max(128, C) columns; e.g. <c>gptvq-d2-b6-g16x256</c>, 3.25 bits per weight).
    /// </summary>
    /// <exception cref="ArgumentException">An unknown key or a budget that is not a positive number.</exception>
    public static ComparisonMethod Parse(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (Standard.TryGetValue(key, out Func<ComparisonMethod>? create))
            return create();
        int at = key.IndexOf('@', StringComparison.Ordinal);
        string stem = at < 0 ? key : key[..at];
        if (at > 0 && stem is "hybrid" or "hybrid-nocb")
        {
            if (!double.TryParse(key[(at + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out double budget) || !(budget > 0) || double.IsInfinity(budget))
                throw new ArgumentException($"'{key}': the budget after '@' is a positive number of bits per weight, e.g. hybrid@3.5.");
            bool codebooks = stem == "hybrid";
            return OfPipeline(key, model => HybridPlan.ForBitsPerWeight(model, budget, codebooks: codebooks));
        }
        if (at > 0 && stem is "alloc" or "alloc-nocb" or "alloc-sq" or "alloc-h")
        {
            if (!double.TryParse(key[(at + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out double budget) || !(budget > 0) || double.IsInfinity(budget))
                throw new ArgumentException($"'{key}': the budget after '@' is a positive number of bits per weight, e.g. alloc@3.5.");
            return OfAllocation(key, budget, codebooks: stem != "alloc-nocb", vector: stem != "alloc-sq", sensitivity: stem != "alloc-h");
        }
        if (TryParseGptvq(key, out GptvqOptions? gptvq))
            return Of(new GptvqQuantizer(gptvq));
        throw new ArgumentException($"Unknown method '{key}'; choose from {string.Join(", ", Standard.Keys)}, hybrid@BPW / hybrid-nocb@BPW, alloc@BPW / alloc-nocb@BPW / alloc-sq@BPW / alloc-h@BPW, or gptvq-dD-bB-gRxC.");
    }

    /// <summary>
    /// The GPTVQ options of a <c>gptvq-dD-bB-gRxC</c> key (case-insensitive; d = D, b = B index bits per vector, one
    /// codebook per R rows × C columns): false when the key is not of that form.
    /// </summary>
    /// <exception cref="ArgumentException">The key has the form but values the options refuse (the message names the key;
    /// the options' own exception is the inner one).</exception>
    public static bool TryParseGptvq(string key, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out GptvqOptions? options)
    {
        ArgumentNullException.ThrowIfNull(key);
        options = null;
        System.Text.RegularExpressions.Match m = System.Text.RegularExpressions.Regex.Match(key, @"^gptvq-d(\d+)-b(\d+)-g(\d+)x(\d+)$",
            System.Text.RegularExpressions.RegexOptions.CultureInvariant | System.Text.RegularExpressions.RegexOptions.IgnoreCase);
        if (!m.Success)
            return false;
        int Value(int group) => int.Parse(m.Groups[group].Value, CultureInfo.InvariantCulture);
        try
        {
            var codebooks = new KMeansOptions { Dimension = Value(1), Bits = Value(2), GroupRows = Value(3), GroupColumns = Value(4) };
            codebooks.ValidateCombination();
            options = GptvqOptions.ForCodebooks(codebooks);
            return true;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
        {
            throw new ArgumentException($"'{key}': {e.Message}", e);
        }
    }

    /// <summary>A per-matrix row: <paramref name="quantizer"/> applied to every block matrix with the float32 model's Hessians.</summary>
    public static ComparisonMethod Of(IScalarQuantizer quantizer)
    {
        ArgumentNullException.ThrowIfNull(quantizer);
        return new(quantizer.Name, quantizer.RequiresHessian, quantizer.Quantize);
    }

    /// <summary>A per-matrix row: <paramref name="quantizer"/> applied to every block matrix with the float32 model's Hessians.</summary>
    public static ComparisonMethod Of(IVectorQuantizer quantizer)
    {
        ArgumentNullException.ThrowIfNull(quantizer);
        return new(quantizer.Name, quantizer.RequiresHessian, quantizer.Quantize);
    }

    /// <summary>
    /// The baselines every comparison table carries, by key: RTN and GPTQ at 3 and 4 bits (asymmetric, groups of 64,
    /// FP16 scale and zero; GPTQ also with act-order, <c>gptq3-act</c>, and in groups of 128, <c>gptq3-g128</c>), RTN and GPTQ with 6-bit scales and zeros on
    /// super-block steps in groups of 32 (<c>rtn3-int6</c>; <c>gptq3-int6</c> with act-order; <c>gptq3-int6-clip</c> also with
    /// the least-squares grid search, the default SQ branch; <c>gptq3-clip</c>: g64 FP16 with the search),
    /// k-means VQ and GPTVQ (d = 1, b = 3, one codebook per 2 × 32 weights; GPTVQ also with a rank-4 SVD of the
    /// codebooks), rwkv.cpp's ggml block formats, and llama.cpp's k-quants, IQ4_XS and IQ3_S byte for byte as llama-quantize
    /// makes them (<c>q2_k</c>, <c>q3_k</c>, <c>q4_k</c>, <c>iq4_xs</c>, <c>iq3_s</c>; with <c>-imat</c> the importance matrix from the calibration); and pipelines with sequential calibration (<see cref="HybridPlan"/>):
    /// the paper's GPTQ only (<c>seq-gptq3</c>, with act-order <c>seq-gptq3-act</c>), the default SQ branch only
    /// (<c>seq-gptq3-int6</c>), GPTVQ only (<c>seq-gptvq</c>), the RWKVQuant hybrid with 90% of the matrices in SQ on
    /// the default recipe (<see cref="HybridRecipe.Default"/>) with and without activation-weighted codebooks
    /// (<c>hybrid</c>, <c>hybrid-nocb</c>) and on the paper's settings (<c>hybrid-paper</c>, <c>hybrid-paper-nocb</c>),
    /// the paper's hybrid with unweighted codebooks (<c>hybrid-uwcb</c>, the ablation), and the oracle that quantizes
    /// each matrix both ways and keeps the lower Hessian-weighted error, whatever its bits (<c>oracle</c>, no codebooks).
    /// </summary>
    public static IReadOnlyDictionary<string, Func<ComparisonMethod>> Standard { get; } = new Dictionary<string, Func<ComparisonMethod>>(StringComparer.OrdinalIgnoreCase)
    {
        ["rtn3"] = () => Of(new RoundToNearestQuantizer(new RoundToNearestOptions { Bits = 3, GroupSize = 64 })),
        ["rtn4"] = () => Of(new RoundToNearestQuantizer(new RoundToNearestOptions { Bits = 4, GroupSize = 64 })),
        ["rtn3-int6"] = () => Of(new RoundToNearestQuantizer(new RoundToNearestOptions { Bits = 3, GroupSize = 32, ScalePrecision = ScalePrecision.Int6 })),
        ["gptq3"] = () => Of(new GptqQuantizer(new GptqOptions { Bits = 3, GroupSize = 64 })),
        ["gptq3-act"] = () => Of(new GptqQuantizer(new GptqOptions { Bits = 3, GroupSize = 64, ActOrder = true })),
        ["gptq3-g128"] = () => Of(new GptqQuantizer(new GptqOptions { Bits = 3, GroupSize = 128 })),
        ["gptq3-int6"] = () => Of(new GptqQuantizer(new GptqOptions { Bits = 3, GroupSize = 32, ScalePrecision = ScalePrecision.Int6, ActOrder = true })),
        ["gptq3-int6-clip"] = () => Of(new GptqQuantizer(new GptqOptions { Bits = 3, GroupSize = 32, ScalePrecision = ScalePrecision.Int6, ActOrder = true, ClipSearch = true })),
        ["gptq3-clip"] = () => Of(new GptqQuantizer(new GptqOptions { Bits = 3, GroupSize = 64, ClipSearch = true })),
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
        ["q2_k"] = () => Of(new KQuantizer(new KQuantizerOptions(KQuantType.Q2_K))),
        ["q2_k-imat"] = () => Of(new KQuantizer(new KQuantizerOptions(KQuantType.Q2_K, useImportance: true))),
        ["q3_k"] = () => Of(new KQuantizer(new KQuantizerOptions(KQuantType.Q3_K))),
        ["q3_k-imat"] = () => Of(new KQuantizer(new KQuantizerOptions(KQuantType.Q3_K, useImportance: true))),
        ["q4_k"] = () => Of(new KQuantizer(new KQuantizerOptions(KQuantType.Q4_K))),
        ["q4_k-imat"] = () => Of(new KQuantizer(new KQuantizerOptions(KQuantType.Q4_K, useImportance: true))),
        ["iq4_xs"] = () => Of(new KQuantizer(new KQuantizerOptions(KQuantType.IQ4_XS))),
        ["iq4_xs-imat"] = () => Of(new KQuantizer(new KQuantizerOptions(KQuantType.IQ4_XS, useImportance: true))),
        ["iq3_s"] = () => Of(new KQuantizer(new KQuantizerOptions(KQuantType.IQ3_S))),
        ["iq3_s-imat"] = () => Of(new KQuantizer(new KQuantizerOptions(KQuantType.IQ3_S, useImportance: true))),
        ["seq-gptq3"] = () => OfPipeline("seq gptq a3 g64", model => HybridPlan.ForScalarFraction(model, 1, codebooks: false, recipe: HybridRecipe.Paper)),
        ["seq-gptq3-act"] = () => OfPipeline("seq gptq a3 g64 act-order", model => HybridPlan.ForScalarFraction(model, 1, codebooks: false, recipe: HybridRecipe.Paper)
            .CreateBuilder(scalar: new GptqOptions { Bits = 3, GroupSize = 64, ActOrder = true }).Build()),
        ["seq-gptq3-int6"] = () => OfPipeline("seq gptq a3 g32 int6 act-order clip-search", model => HybridPlan.ForScalarFraction(model, 1, codebooks: false)),
        ["seq-gptvq"] = () => OfPipeline("seq gptvq d1 b3 g2x32", model => HybridPlan.ForScalarFraction(model, 0, codebooks: false)),
        ["hybrid"] = () => OfPipeline("hybrid 90% SQ + codebooks", model => HybridPlan.ForScalarFraction(model)),
        ["hybrid-nocb"] = () => OfPipeline("hybrid 90% SQ", model => HybridPlan.ForScalarFraction(model, codebooks: false)),
        ["hybrid-paper"] = () => OfPipeline("paper hybrid 90% SQ + codebooks", model => HybridPlan.ForScalarFraction(model, recipe: HybridRecipe.Paper)),
        ["hybrid-paper-nocb"] = () => OfPipeline("paper hybrid 90% SQ", model => HybridPlan.ForScalarFraction(model, codebooks: false, recipe: HybridRecipe.Paper)),
        ["hybrid-uwcb"] = () => OfPipeline("paper hybrid 90% SQ + unweighted codebooks", model =>
            HybridPlan.ForScalarFraction(model, codebooks: false, recipe: HybridRecipe.Paper).CreateBuilder().UseCodebookOptimizer(new UnweightedCodebookOptimizer()).Build()),
        ["oracle"] = () => OfPipeline("oracle gptq a3 g64 | gptvq d1 b3 g2x32", model =>
        {
            var scalar = new GptqQuantizer(new GptqOptions { Bits = 3, GroupSize = 64 });
            var vector = new GptvqQuantizer(new GptvqOptions { Codebooks = new KMeansOptions { Dimension = 1, Bits = 3 } });
            return HybridQuantizer.CreateBuilder().UseSelector(new OracleSelector(scalar, vector)).UseScalar(scalar).UseVector(vector).Build();
        }),
    };
}
