using System.Globalization;
using RwkvQuant.Calibration;
using RwkvQuant.Codebooks;
using RwkvQuant.Evaluation;
using RwkvQuant.Formats;
using RwkvQuant.Models;
using RwkvQuant.Quantization;
using RwkvQuant.Proxy;
using RwkvQuant.Scalar;
using RwkvQuant.Scalar.Gptq;
using RwkvQuant.Vector.Gptvq;
using RwkvQuant.Vector.KMeans;

namespace RwkvQuant.Pipeline;

/// <summary>
/// The settings of a <see cref="HybridQuantizer"/> for one model, decided before quantizing, with the exact bits they
/// will store: GPTQ options for SQ, GPTVQ options for VQ, the coarse-to-fine proxy thresholds, the codebook
/// optimizer (or none), which block matrices the proxy sends to SQ, and the resulting bits per weight over the
/// quantized tensors (block matrices plus, with codebooks, the element-wise multiplication vectors) — exactly what the
/// quantized model will report, since every stored bit depends only on shapes and settings.
/// Every plan starts from a <see cref="HybridRecipe"/>: the default (GPTQ act-order, 3-bit codes in groups of 32 with
/// 6-bit scales and zeros, 4-bit activation-weighted codebooks) or the paper's (GPTQ 3-bit g64 with FP16 scale and zero,
/// 3-bit codebooks); both take GPTVQ d1 b3 with one codebook per 2 × 32 weights for VQ.
/// <list type="bullet">
/// <item><see cref="ForScalarFraction"/>: the recipe's settings, thresholds scaled so that a share of the matrices
/// (default 90% by count, as the authors tuned them) goes to SQ.</item>
/// <item><see cref="ForThresholds"/>: the recipe's settings with explicit τ_c, τ_f.</item>
/// <item><see cref="ForBitsPerWeight"/>: a bit budget. The SQ share is held (default 90% by count); code width (2, 3
/// or 4 bits) and group sizes (SQ groups of 16–128 columns with 6-bit scales, or 32–256 with FP16 ones on the paper's
/// recipe; VQ codebooks per 64–512 weights) are chosen per matrix so that the planned bits per weight are as close to
/// the budget as the settings allow without exceeding it.</item>
/// <item><see cref="ForAllocation"/>: a bit budget spent by measured error per stored bit, SQ or VQ and the setting chosen
/// per matrix from the float model's Hessians (an exact knapsack over 14 candidate settings); the proxy's picks are kept
/// for the report.</item>
/// </list>
/// Immutable; <see cref="Build"/> makes the quantizer.
/// </summary>
public sealed class HybridPlan
{
    /// <summary>The paper's share of block matrices sent to SQ (by count).</summary>
    public const double PaperScalarFraction = 0.9;

    /// <summary>
    /// SQ settings for a budget, richer ones later: (code bits, group size) by nominal bits per weight — b + 32/g with
    /// FP16 scale and zero (the paper's recipe: groups of 256 to 32), b + 14/g with 6-bit scales and zeros (groups of
    /// 128 to 16).
    /// </summary>
    private static (int Bits, int Group)[] ScalarLadder(HybridRecipe recipe) => recipe == HybridRecipe.Paper ? PaperScalarLadder : Int6ScalarLadder;

    private static readonly (int Bits, int Group)[] PaperScalarLadder =
        [.. new[] { 2, 3, 4 }.SelectMany(b => new[] { 256, 128, 64, 32 }.Select(g => (b, g))).OrderBy(s => s.b + 32.0 / s.g).ThenBy(s => s.b)];

    private static readonly (int Bits, int Group)[] Int6ScalarLadder =
        [.. new[] { 2, 3, 4 }.SelectMany(b => new[] { 128, 64, 32, 16 }.Select(g => (b, g))).OrderBy(s => s.b + 14.0 / s.g).ThenBy(s => s.b)];

    /// <summary>VQ settings for a budget: (code bits, codebook rows × columns) by nominal bits per weight b + (8·2^b + 16)/(rows·columns).</summary>
    private static readonly (int Bits, int Rows, int Columns)[] VectorLadder =
        [.. new[] { 2, 3, 4 }.SelectMany(b => new[] { (8, 64), (4, 64), (4, 32), (2, 32) }.Select(g => (b, g.Item1, g.Item2)))
            .OrderBy(s => s.b + (8.0 * (1 << s.b) + 16) / (s.Item2 * s.Item3)).ThenBy(s => s.b)];

    private readonly IReadOnlyDictionary<string, GptqOptions> _scalarFor;
    private readonly IReadOnlyDictionary<string, GptvqOptions> _vectorFor;

    private HybridPlan(HybridRecipe recipe, GptqOptions scalar, GptvqOptions vector, ProxyThresholds thresholds, CodebookOptimizerOptions? codebooks,
        IReadOnlyList<PlannedMatrix> matrices, IReadOnlyDictionary<string, GptqOptions> scalarFor, IReadOnlyDictionary<string, GptvqOptions> vectorFor,
        long vectorBits, long vectorParameters, bool allocated = false)
    {
        IsAllocated = allocated;
        Recipe = recipe;
        Scalar = scalar;
        Vector = vector;
        Thresholds = thresholds;
        Codebooks = codebooks;
        Matrices = matrices;
        _scalarFor = scalarFor;
        _vectorFor = vectorFor;
        PlannedStoredBits = matrices.Sum(m => m.StoredBits) + vectorBits;
        PlannedParameters = matrices.Sum(m => (long)m.Rows * m.Columns) + vectorParameters;
    }

    /// <summary>The settings the plan starts from.</summary>
    public HybridRecipe Recipe { get; }

    /// <summary>
    /// True for a budget allocation (<see cref="ForAllocation"/>): each matrix's branch and setting were chosen by measured
    /// error per stored bit, and the quantizer follows those choices (<see cref="PlannedSelector"/>) instead of the proxy.
    /// </summary>
    public bool IsAllocated { get; }

    /// <summary>Options of the SQ branch (GPTQ), for every SQ matrix without its own (<see cref="ScalarFor"/>).</summary>
    public GptqOptions Scalar { get; }

    /// <summary>Options of the VQ branch (GPTVQ), for every VQ matrix without its own (<see cref="VectorFor"/>).</summary>
    public GptvqOptions Vector { get; }

    /// <summary>The coarse-to-fine proxy thresholds.</summary>
    public ProxyThresholds Thresholds { get; }

    /// <summary>Options of the activation-weighted codebook optimizer for the multiplication vectors, or null (they stay in FP32).</summary>
    public CodebookOptimizerOptions? Codebooks { get; }

    /// <summary>Every block matrix with its proxy score, branch, setting and planned bits, in model order.</summary>
    public IReadOnlyList<PlannedMatrix> Matrices { get; }

    /// <summary>Block matrices (the 2-D weights inside the blocks).</summary>
    public int MatrixCount => Matrices.Count;

    /// <summary>Block matrices the thresholds send to SQ.</summary>
    public int ScalarMatrixCount => Matrices.Count(m => m.Choice == QuantizationChoice.Scalar);

    /// <summary>Matrices whose setting is not the branch default (budget plans only).</summary>
    public int OverrideCount => _scalarFor.Count + _vectorFor.Count;

    /// <summary>Every bit the quantized tensors will store.</summary>
    public long PlannedStoredBits { get; }

    /// <summary>Parameters of the quantized tensors.</summary>
    public long PlannedParameters { get; }

    /// <summary>Bits per weight over the quantized tensors, <c>PlannedStoredBits / PlannedParameters</c>.</summary>
    public double PlannedBitsPerWeight => (double)PlannedStoredBits / PlannedParameters;

    /// <summary>The SQ options of a matrix: its own, or <see cref="Scalar"/>.</summary>
    public GptqOptions ScalarFor(string tensorName) => _scalarFor.GetValueOrDefault(tensorName, Scalar);

    /// <summary>The VQ options of a matrix: its own, or <see cref="Vector"/>.</summary>
    public GptvqOptions VectorFor(string tensorName) => _vectorFor.GetValueOrDefault(tensorName, Vector);

    /// <summary>A one-line description, e.g. <c>gptq a3 g64 + gptvq d1 b3 g2x32, 130/144 SQ, codebooks b3 g64: 3.5958 bpw</c>.</summary>
    public override string ToString() => IsAllocated
        ? string.Create(CultureInfo.InvariantCulture,
            $"budget allocation {string.Join(", ", Matrices.GroupBy(m => m.Setting).OrderByDescending(g => g.Count()).Select(g => $"{g.Count()}× {g.Key}"))}; " +
            $"{ScalarMatrixCount}/{MatrixCount} SQ (the proxy's thresholds: {Matrices.Count(m => m.ProxyChoice == QuantizationChoice.Scalar)}/{MatrixCount}), " +
            $"{(Codebooks is { } a ? $"codebooks b{a.Bits} g{a.GroupSize}" : "no codebooks")}: {PlannedBitsPerWeight:F4} bpw")
        : string.Create(CultureInfo.InvariantCulture,
            $"{new GptqQuantizer(Scalar).Name} + {new GptvqQuantizer(Vector).Name}{(OverrideCount > 0 ? $" ({OverrideCount} matrices with their own settings)" : "")}, " +
            $"{ScalarMatrixCount}/{MatrixCount} SQ, {(Codebooks is { } c ? $"codebooks b{c.Bits} g{c.GroupSize}" : "no codebooks")}: {PlannedBitsPerWeight:F4} bpw");

    /// <summary>The recipe's settings, thresholds scaled (<see cref="ProxyThresholds.ScaledForTargetScalarFraction"/>) so that <paramref name="scalarFraction"/> of the block matrices go to SQ.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="scalarFraction"/> is outside [0, 1].</exception>
    /// <exception cref="ArgumentException">The model has no block matrices.</exception>
    public static HybridPlan ForScalarFraction(RwkvModel model, double scalarFraction = PaperScalarFraction,
        bool codebooks = true, ScalarFractionMeasure measure = ScalarFractionMeasure.MatrixCount, HybridRecipe recipe = HybridRecipe.Default)
    {
        Scored scored = Score(model);
        ProxyThresholds thresholds = ProxyThresholds.ScaledForTargetScalarFraction(scored.Scores, scalarFraction, measure);
        return Uniform(model, scored, thresholds, 3, DefaultGroup(recipe), (3, 2, 32), codebooks, recipe);
    }

    /// <summary>The recipe's settings with explicit thresholds.</summary>
    /// <exception cref="ArgumentException">The model has no block matrices.</exception>
    public static HybridPlan ForThresholds(RwkvModel model, ProxyThresholds thresholds, bool codebooks = true, HybridRecipe recipe = HybridRecipe.Default)
    {
        ArgumentNullException.ThrowIfNull(thresholds);
        return Uniform(model, Score(model), thresholds, 3, DefaultGroup(recipe), (3, 2, 32), codebooks, recipe);
    }

    /// <summary>
    /// Settings that bring the planned bits per weight (over the quantized tensors) as close to <paramref name="target"/>
    /// as they can without exceeding it, with <paramref name="scalarFraction"/> of the block matrices in SQ. First a
    /// uniform setting that fits — the widest codes (2, 3 or 4 bits, SQ and VQ alike) that fit, with the most bits
    /// among them: SQ groups of 16, 32, 64 or 128 columns with 6-bit scales and zeros (the paper's recipe: 32, 64, 128 or
    /// 256 with FP16 scale and zero), VQ codebooks (d = 1, int8 with an FP16 scale) per 8×64, 4×64, 4×32 or 2×32 weights. Then, pass after pass in model order, each matrix moves one setting up its branch's ladder (ordered by
    /// nominal bits per weight) while the total still fits — so the plan lands within one such step of the budget.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="target"/> is not a positive finite number, or
    /// <paramref name="scalarFraction"/> is outside [0, 1].</exception>
    /// <exception cref="ArgumentException">No setting fits the budget (the message gives the smallest reachable).</exception>
    public static HybridPlan ForBitsPerWeight(RwkvModel model, double target, double scalarFraction = PaperScalarFraction,
        bool codebooks = true, ScalarFractionMeasure measure = ScalarFractionMeasure.MatrixCount, HybridRecipe recipe = HybridRecipe.Default)
    {
        if (!(target > 0) || double.IsInfinity(target))
            throw new ArgumentOutOfRangeException(nameof(target), target, "The bits-per-weight budget is a positive number.");
        Scored scored = Score(model);
        ProxyThresholds thresholds = ProxyThresholds.ScaledForTargetScalarFraction(scored.Scores, scalarFraction, measure);
        HybridPlan? best = null, smallest = null;
        foreach (int bits in new[] { 2, 3, 4 })
        {
            foreach (int groupSize in ScalarLadder(recipe).Select(s => s.Group).Distinct().OrderDescending())
            {
                foreach ((int rows, int columns) in new[] { (8, 64), (4, 64), (4, 32), (2, 32) })
                {
                    HybridPlan plan = Uniform(model, scored, thresholds, bits, groupSize, (bits, rows, columns), codebooks, recipe);
                    if (smallest is null || plan.PlannedStoredBits < smallest.PlannedStoredBits)
                        smallest = plan;
                    // Fewer code bits cost more quality than coarser groups: the widest codes that fit, then the most bits.
                    if (plan.PlannedBitsPerWeight <= target &&
                        (best is null || bits > best.Scalar.Bits || (bits == best.Scalar.Bits && plan.PlannedStoredBits > best.PlannedStoredBits)))
                    {
                        best = plan;
                    }
                }
            }
        }
        if (best is null)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"No setting reaches {target} bits per weight with {scalarFraction:P0} of the matrices in SQ{(codebooks ? " and codebooks for the multiplication vectors" : "")}; " +
                $"the smallest is {smallest!.PlannedBitsPerWeight:F4} ({smallest})."), nameof(target));
        }
        return best.Upgraded(target);
    }

    /// <summary>
    /// Settings chosen by measured benefit per bit: every block matrix is quantized, with the float model's Hessians
    /// <paramref name="hessians"/>, at every candidate setting — GPTQ (the default recipe: act-order where it pays, the
    /// grid search, 6-bit scales and zeros) with 2-bit codes in groups of 16 or 32, 3-bit in groups of 128 to 16, 4-bit
    /// in groups of 128 to 32, and (with <paramref name="vector"/>) GPTVQ with int8 codebooks: d1 b3 per 8 × 64 or 4 × 32
    /// weights, d2 b5 per 16 × 256, d2 b6 per 32 × 256 or 16 × 256 (3.13 and 3.25 bits per weight at 256 columns) — and its
    /// Hessian-weighted error tr((W − Q) H (W − Q)ᵀ) measured; then the budget goes, step by step,
    /// to the change with the largest error reduction per stored bit (<see cref="BudgetAllocator"/>), never to a total
    /// error above the best uniform setting that fits. The quantizer follows the picks (<see cref="PlannedSelector"/>);
    /// the proxy's thresholds (scaled to the paper's 90% SQ) are kept for the report (<see cref="PlannedMatrix.ProxyChoice"/>).
    /// Costs one quantization per candidate and matrix before the real one (14 of them: about 10 times a plain run).
    /// <para>
    /// With <paramref name="sensitivityDocuments"/>, each matrix's errors are first put on the scale of the model's output:
    /// the matrix alone is replaced by its GPTQ 3-bit g128 candidate and the KL divergence of the model's predictions to
    /// the float model's over those token sequences is measured; its errors are multiplied by that KL over the
    /// candidate's H-error. A layer whose output errors the rest of the network amplifies (RWKV-7's decay LoRA passes
    /// through exp(−exp(·))) then gets its bits before one whose errors wash out. One forward pass per matrix.
    /// </para>
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="target"/> is not a positive finite number.</exception>
    /// <exception cref="ArgumentException">A block matrix has no Hessian of its size, or even the cheapest settings exceed the budget.</exception>
    public static HybridPlan ForAllocation(RwkvModel model, IReadOnlyDictionary<string, Hessian> hessians, double target, bool codebooks = true,
        bool vector = true, IReadOnlyList<int[]>? sensitivityDocuments = null, IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        if (!(target > 0) || double.IsInfinity(target))
            throw new ArgumentOutOfRangeException(nameof(target), target, "The bits-per-weight budget is a positive number.");
        ArgumentNullException.ThrowIfNull(hessians);
        Scored scored = Score(model);
        ProxyThresholds thresholds = ProxyThresholds.ScaledForTargetScalarFraction(scored.Scores, PaperScalarFraction, ScalarFractionMeasure.MatrixCount);
        HybridPlan uniform = Uniform(model, scored, thresholds, 3, DefaultGroup(HybridRecipe.Default), (3, 2, 32), codebooks, HybridRecipe.Default);
        long vectorBits = uniform.PlannedStoredBits - uniform.Matrices.Sum(m => m.StoredBits);
        long vectorParameters = uniform.PlannedParameters - uniform.Matrices.Sum(m => (long)m.Rows * m.Columns);

        (int Bits, int Group)[] scalarSettings = [(2, 32), (2, 16), (3, 128), (3, 64), (3, 32), (3, 16), (4, 128), (4, 64), (4, 32)];
        (int Dimension, int Bits, int Rows, int Columns)[] vectorSettings = vector ? [(1, 3, 8, 64), (1, 3, 4, 32), (2, 5, 16, 256), (2, 6, 32, 256), (2, 6, 16, 256)] : [];
        var candidates = new List<AllocationCandidate>[scored.Matrices.Length];
        var probes = new (float[] Restored, double Error)[scored.Matrices.Length];
        for (int i = 0; i < scored.Matrices.Length; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            LinearWeight w = scored.Matrices[i];
            if (!hessians.TryGetValue(w.Name, out Hessian? h) || h.Size != w.Columns)
                throw new ArgumentException($"No {w.Columns}×{w.Columns} Hessian for '{w.Name}'.", nameof(hessians));
            progress?.Report(string.Create(CultureInfo.InvariantCulture, $"allocating: matrix {i + 1}/{scored.Matrices.Length} {w.Name}"));
            TensorData matrix = w.ToMatrix(model[w.Name]);
            float[] values = matrix.ToFloatArray();
            var list = new List<AllocationCandidate>();
            foreach ((int bits, int group) in scalarSettings)
            {
                GptqOptions options = ScalarOptions(bits, group, HybridRecipe.Default, w.Rows, w.Columns);
                var gptq = new GptqQuantizer(options);
                QuantizedTensor q = gptq.Quantize(matrix, h, cancellationToken);
                float[] restored = q.Dequantize();
                double error = h.WeightedError(values, restored);
                list.Add(new AllocationCandidate(QuantizationChoice.Scalar, $"sq a{bits} g{group}", gptq.Name, q.StoredBits, error, options, null));
                if ((bits, group) == SensitivityProbe)
                    probes[i] = (restored, error);
            }
            foreach ((int dimension, int bits, int rows, int columns) in vectorSettings)
            {
                GptvqOptions options = GptvqOptions.ForCodebooks(new KMeansOptions { Dimension = dimension, Bits = bits, GroupRows = rows, GroupColumns = columns });
                var gptvq = new GptvqQuantizer(options);
                QuantizedTensor q = gptvq.Quantize(matrix, h, cancellationToken);
                list.Add(new AllocationCandidate(QuantizationChoice.Vector, $"vq d{dimension} b{bits} g{rows}x{columns}", gptvq.Name, q.StoredBits,
                    h.WeightedError(values, q.Dequantize()), null, options));
            }
            candidates[i] = list;
        }

        if (sensitivityDocuments is not null)
        {
            double[] scale = Sensitivities(model, scored.Matrices, probes, sensitivityDocuments, progress, cancellationToken);
            for (int i = 0; i < candidates.Length; i++)
                candidates[i] = [.. candidates[i].Select(c => c with { Error = c.Error * scale[i] })];
        }
        long matrixBudget = (long)Math.Floor(target * uniform.PlannedParameters) - vectorBits;
        int[] picks = BudgetAllocator.Allocate([.. candidates.Select(list => (IReadOnlyList<BudgetAllocator.Candidate>)[.. list.Select(c => new BudgetAllocator.Candidate(c.Key, c.Bits, c.Error))])], matrixBudget);
        var matrices = new PlannedMatrix[scored.Matrices.Length];
        var scalarFor = new Dictionary<string, GptqOptions>(StringComparer.Ordinal);
        var vectorFor = new Dictionary<string, GptvqOptions>(StringComparer.Ordinal);
        for (int i = 0; i < matrices.Length; i++)
        {
            LinearWeight w = scored.Matrices[i];
            AllocationCandidate pick = candidates[i][picks[i]];
            matrices[i] = new PlannedMatrix(w.Name, w.Rows, w.Columns, scored.Scores[i], pick.Choice, pick.Setting, pick.Bits,
                thresholds.Choose(scored.Scores[i]), pick.Error);
            if (pick.Scalar is { } s)
                scalarFor[w.Name] = s;
            else
                vectorFor[w.Name] = pick.Vector!;
        }
        return new HybridPlan(HybridRecipe.Default, uniform.Scalar, uniform.Vector, thresholds, uniform.Codebooks, matrices, scalarFor, vectorFor,
            vectorBits, vectorParameters, allocated: true);
    }

    /// <summary>Calibration samples a budget allocation measures sensitivities on: the first 8 (of 32 × 256 tokens on the
    /// default model, one forward pass each per matrix).</summary>
    public static IReadOnlyList<int[]> SensitivitySamples(CalibrationData calibration)
    {
        ArgumentNullException.ThrowIfNull(calibration);
        return [.. calibration.Samples.Take(8)];
    }

    /// <summary>The candidate whose single-matrix KL sets a matrix's sensitivity: GPTQ 3-bit g128.</summary>
    private static readonly (int Bits, int Group) SensitivityProbe = (3, 128);

    /// <summary>Per matrix, the KL of the model with that matrix alone replaced by its probe, over the probe's H-error (0 where that is 0).</summary>
    private static double[] Sensitivities(RwkvModel model, LinearWeight[] matrices, (float[] Restored, double Error)[] probes,
        IReadOnlyList<int[]> documents, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        using RwkvNetwork reference = RwkvNetwork.Create(model);
        var scale = new double[matrices.Length];
        for (int i = 0; i < matrices.Length; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            LinearWeight w = matrices[i];
            progress?.Report(string.Create(CultureInfo.InvariantCulture, $"sensitivity: matrix {i + 1}/{matrices.Length} {w.Name}"));
            if (probes[i].Error <= 0)
                continue;
            var replaced = new Dictionary<string, TensorData>(StringComparer.Ordinal) { [w.Name] = w.FromMatrix(probes[i].Restored, model[w.Name].Shape) };
            using RwkvNetwork candidate = RwkvNetwork.Create(model.WithTensors(replaced));
            KlDivergenceResult kl = KlDivergenceEvaluator.Evaluate(reference, candidate, documents, cancellationToken: cancellationToken);
            scale[i] = Math.Max(0, kl.MeanKl) / probes[i].Error;
        }
        return scale;
    }

    private sealed record AllocationCandidate(QuantizationChoice Choice, string Key, string Setting, long Bits, double Error, GptqOptions? Scalar, GptvqOptions? Vector);

    /// <summary>
    /// A builder preset with this plan's selector (the proxy and thresholds, or an allocation's picks), quantizers (per
    /// matrix where the plan says so) and codebook optimizer; <paramref name="scalar"/> replaces the SQ branch's default
    /// options (ablations: the planned bits no longer hold then).
    /// </summary>
    public HybridQuantizerBuilder CreateBuilder(GptqOptions? scalar = null)
    {
        HybridQuantizerBuilder builder = HybridQuantizer.CreateBuilder();
        builder = IsAllocated
            ? builder.UseSelector(new PlannedSelector(Matrices.ToDictionary(m => m.Name, m => m.Choice, StringComparer.Ordinal), "budget allocation"))
            : builder.UseProxy(new CoarseToFineProxy(), Thresholds);
        builder = builder
            .UseScalar(new GptqQuantizer(scalar ?? Scalar))
            .UseVector(new GptvqQuantizer(Vector));
        foreach ((string name, GptqOptions options) in _scalarFor)
            builder.UseScalarFor(name, new GptqQuantizer(options));
        foreach ((string name, GptvqOptions options) in _vectorFor)
            builder.UseVectorFor(name, new GptvqQuantizer(options));
        return Codebooks is { } c ? builder.UseCodebookOptimizer(new ActivationWeightedCodebookOptimizer(c)) : builder;
    }

    /// <summary>The quantizer for this plan.</summary>
    public HybridQuantizer Build() => CreateBuilder().Build();

    /// <summary>This plan with matrices moved up their ladders, pass after pass in model order, while the total fits <paramref name="target"/>.</summary>
    private HybridPlan Upgraded(double target)
    {
        long budget = (long)Math.Floor(target * PlannedParameters), total = PlannedStoredBits;
        var matrices = Matrices.ToArray();
        var scalarFor = new Dictionary<string, GptqOptions>(_scalarFor, StringComparer.Ordinal);
        var vectorFor = new Dictionary<string, GptvqOptions>(_vectorFor, StringComparer.Ordinal);
        int[] rung = [.. matrices.Select(m => m.Choice == QuantizationChoice.Scalar
            ? Array.IndexOf(ScalarLadder(Recipe), (Scalar.Bits, Scalar.GroupSize))
            : Array.IndexOf(VectorLadder, (Vector.Codebooks.Bits, Vector.Codebooks.GroupRows, Vector.Codebooks.GroupColumns)))];
        for (bool moved = true; moved;)
        {
            moved = false;
            for (int i = 0; i < matrices.Length; i++)
            {
                PlannedMatrix m = matrices[i];
                bool sq = m.Choice == QuantizationChoice.Scalar;
                int ladder = sq ? ScalarLadder(Recipe).Length : VectorLadder.Length;
                for (int next = rung[i] + 1; next < ladder; next++)
                {
                    (long bits, string setting, GptqOptions? s, GptvqOptions? v) = sq ? ScalarSetting(m, ScalarLadder(Recipe)[next], Recipe) : VectorSetting(m, VectorLadder[next]);
                    if (bits <= m.StoredBits)
                        continue; // no richer for this shape (e.g. one group spans the row either way)
                    if (total - m.StoredBits + bits <= budget && (double)(total - m.StoredBits + bits) / PlannedParameters <= target)
                    {
                        total += bits - m.StoredBits;
                        matrices[i] = m with { Setting = setting, StoredBits = bits };
                        rung[i] = next;
                        if (s is not null)
                            scalarFor[m.Name] = s;
                        else
                            vectorFor[m.Name] = v!;
                        moved = true;
                    }
                    break;
                }
            }
        }
        long vectorBits = PlannedStoredBits - Matrices.Sum(m => m.StoredBits);
        long vectorParameters = PlannedParameters - Matrices.Sum(m => (long)m.Rows * m.Columns);
        return new HybridPlan(Recipe, Scalar, Vector, Thresholds, Codebooks, matrices, scalarFor, vectorFor, vectorBits, vectorParameters);
    }

    private static (long Bits, string Setting, GptqOptions? Scalar, GptvqOptions? Vector) ScalarSetting(PlannedMatrix m, (int Bits, int Group) rung, HybridRecipe recipe)
    {
        GptqOptions options = ScalarOptions(rung.Bits, rung.Group, recipe, m.Rows, m.Columns);
        var quantizer = new GptqQuantizer(options);
        return (quantizer.StoredBitsFor(m.Rows, m.Columns), quantizer.Name, options, null);
    }

    private static (long Bits, string Setting, GptqOptions? Scalar, GptvqOptions? Vector) VectorSetting(PlannedMatrix m, (int Bits, int Rows, int Columns) rung)
    {
        GptvqOptions options = PaperVector(rung.Bits, rung.Rows, rung.Columns);
        var quantizer = new GptvqQuantizer(options);
        return (quantizer.StoredBitsFor(m.Rows, m.Columns), quantizer.Name, null, options);
    }

    private static HybridPlan Uniform(RwkvModel model, Scored scored, ProxyThresholds thresholds, int scalarBits, int groupSize,
        (int Bits, int Rows, int Columns) vector, bool codebooks, HybridRecipe recipe)
    {
        GptqOptions scalarOptions = ScalarOptions(scalarBits, groupSize, recipe);
        GptvqOptions vectorOptions = PaperVector(vector.Bits, vector.Rows, vector.Columns);
        var gptvq = new GptvqQuantizer(vectorOptions);
        var matrices = new PlannedMatrix[scored.Matrices.Length];
        var scalarFor = new Dictionary<string, GptqOptions>(StringComparer.Ordinal);
        for (int i = 0; i < matrices.Length; i++)
        {
            LinearWeight w = scored.Matrices[i];
            QuantizationChoice choice = thresholds.Choose(scored.Scores[i]);
            if (choice != QuantizationChoice.Scalar)
            {
                matrices[i] = new PlannedMatrix(w.Name, w.Rows, w.Columns, scored.Scores[i], choice, gptvq.Name, gptvq.StoredBitsFor(w.Rows, w.Columns));
                continue;
            }
            GptqOptions options = ScalarOptions(scalarBits, groupSize, recipe, w.Rows, w.Columns);
            if (options != scalarOptions)
                scalarFor[w.Name] = options; // a matrix too short for act-order to pay
            var gptq = new GptqQuantizer(options);
            matrices[i] = new PlannedMatrix(w.Name, w.Rows, w.Columns, scored.Scores[i], choice, gptq.Name, gptq.StoredBitsFor(w.Rows, w.Columns));
        }
        CodebookOptimizerOptions? codebookOptions = !codebooks ? null
            : recipe == HybridRecipe.Paper ? CodebookOptimizerOptions.Default : new CodebookOptimizerOptions { Bits = 4 };
        long vectorBits = 0, vectorParameters = 0;
        if (codebookOptions is not null)
        {
            var optimizer = new ActivationWeightedCodebookOptimizer(codebookOptions);
            foreach (string name in HybridQuantizer.MultiplicationVectors(model))
            {
                int length = checked((int)model[name].ElementCount);
                vectorBits += optimizer.StoredBitsFor(length);
                vectorParameters += length;
            }
        }
        return new HybridPlan(recipe, scalarOptions, vectorOptions, thresholds, codebookOptions, matrices,
            scalarFor, new Dictionary<string, GptvqOptions>(), vectorBits, vectorParameters);
    }

    /// <summary>
    /// The SQ options of a recipe at a code width and group size; given a matrix's shape, without act-order where its
    /// stored column order would cost more than it is likely to gain (<see cref="ActOrderPays"/>).
    /// </summary>
    private static GptqOptions ScalarOptions(int bits, int groupSize, HybridRecipe recipe, int rows = int.MaxValue, int columns = 1) =>
        recipe == HybridRecipe.Paper
            ? new() { Bits = bits, GroupSize = groupSize }
            : new() { Bits = bits, GroupSize = groupSize, ScalePrecision = ScalePrecision.Int6, ActOrder = ActOrderPays(rows, columns), ClipSearch = true };

    /// <summary>
    /// True when act-order's column order (⌈log₂ columns⌉ bits per column) costs at most 1/32 bit per weight, i.e. the
    /// matrix has at least 32·⌈log₂ columns⌉ rows. Measured on the default model, act-order took GPTQ's KL down 7% for
    /// 0.034 bits per weight over its 256- and 1024-row matrices; on the v6 1M fixture, whose LoRA matrices have 32 to 64
    /// rows, it cost 0.084 bits per weight and gained nothing.
    /// </summary>
    internal static bool ActOrderPays(int rows, int columns) => (long)GroupScalarTensor.PermutationBits(columns) * 32 <= rows;

    /// <summary>The SQ group size of a recipe's uniform 3-bit plan: 64 (the paper's), or 32 with 6-bit scales (3.44 bpw).</summary>
    private static int DefaultGroup(HybridRecipe recipe) => recipe == HybridRecipe.Paper ? 64 : 32;

    private static GptvqOptions PaperVector(int bits, int rows, int columns) =>
        new() { Codebooks = new KMeansOptions { Dimension = 1, Bits = bits, GroupRows = rows, GroupColumns = columns } };

    private sealed record Scored(ProxyScore[] Scores, LinearWeight[] Matrices);

    private static Scored Score(RwkvModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        LinearWeight[] matrices = [.. LinearWeights.Of(model).Where(w => w.Block >= 0)];
        if (matrices.Length == 0)
            throw new ArgumentException("The model has no weight matrices inside its blocks to quantize.", nameof(model));
        var proxy = new CoarseToFineProxy();
        return new Scored([.. matrices.Select(w => proxy.Score(w.ToMatrix(model[w.Name])))], matrices);
    }
}

/// <summary>One block matrix in a <see cref="HybridPlan"/>.</summary>
/// <param name="Name">Canonical tensor name.</param>
/// <param name="Rows">Rows of its <c>[out, in]</c> form.</param>
/// <param name="Columns">Columns of its <c>[out, in]</c> form.</param>
/// <param name="Score">Its coarse-to-fine proxy score.</param>
/// <param name="Choice">The branch the thresholds send it to.</param>
/// <param name="Setting">The quantizer's name with the planned settings, e.g. <c>gptq a3 g128</c>.</param>
/// <param name="StoredBits">The bits it will store.</param>
/// <param name="ProxyChoice">The branch the proxy's thresholds pick (null: the same as <paramref name="Choice"/>; a budget
/// allocation keeps it for the report).</param>
/// <param name="EstimatedError">A budget allocation's estimated error at the chosen setting: tr((W − Q) H (W − Q)ᵀ) with the
/// float model's Hessian, scaled to KL units by the matrix's measured sensitivity when the allocation had sensitivity
/// documents; null for other plans.</param>
public sealed record PlannedMatrix(string Name, int Rows, int Columns, ProxyScore Score, QuantizationChoice Choice, string Setting, long StoredBits,
    QuantizationChoice? ProxyChoice = null, double? EstimatedError = null);

/// <summary>The settings a <see cref="HybridPlan"/> starts from.</summary>
public enum HybridRecipe
{
    /// <summary>
    /// RwkvQuant's: SQ by GPTQ with act-order (where its column order is cheap), each group's grid searched for the least
    /// squared error (<see cref="GptqOptions.ClipSearch"/>), scales and zeros stored in 6 bits on FP16 super-block steps
    /// (<see cref="ScalePrecision.Int6"/>), 3-bit codes in groups of 32 (3.44 bits per weight), and 4-bit
    /// activation-weighted codebooks for the multiplication vectors. On the default model this has about 20% lower KL
    /// to float32 than the paper's settings, with fewer bits.
    /// </summary>
    Default,

    /// <summary>The paper's: GPTQ 3-bit in groups of 64 with FP16 scale and zero (3.5 bits per weight), 3-bit codebooks.</summary>
    Paper,
}
