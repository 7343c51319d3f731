using System.Globalization;
using RwkvQuant.Codebooks;
using RwkvQuant.Models;
using RwkvQuant.Proxy;
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
/// <list type="bullet">
/// <item><see cref="ForScalarFraction"/>: the paper's settings (GPTQ 3-bit g64, GPTVQ d1 b3 with one codebook per
/// 2 × 32 weights, activation-weighted codebooks b3 g64), thresholds scaled so that a share of the matrices (default
/// 90% by count, as the authors tuned them) goes to SQ.</item>
/// <item><see cref="ForThresholds"/>: the paper's settings with explicit τ_c, τ_f.</item>
/// <item><see cref="ForBitsPerWeight"/>: a bit budget. The SQ share is held (default 90% by count); the code width
/// (2, 3 or 4 bits, the same for SQ and VQ) and the group sizes (SQ groups of 32–256 columns, VQ codebooks per 64–512
/// weights) are chosen so that the planned bits per weight are the largest that do not exceed the budget.</item>
/// </list>
/// Immutable; <see cref="Build"/> makes the quantizer.
/// </summary>
public sealed class HybridPlan
{
    /// <summary>The paper's share of block matrices sent to SQ (by count).</summary>
    public const double PaperScalarFraction = 0.9;

    private static readonly int[] ScalarGroupSizes = [32, 64, 128, 256];
    private static readonly (int Rows, int Columns)[] VectorGroups = [(2, 32), (4, 32), (4, 64), (8, 64)];

    private HybridPlan(RwkvModel model, ProxyScore[] scores, LinearWeight[] matrices, GptqOptions scalar, GptvqOptions vector,
        ProxyThresholds thresholds, CodebookOptimizerOptions? codebooks)
    {
        Scalar = scalar;
        Vector = vector;
        Thresholds = thresholds;
        Codebooks = codebooks;
        var gptq = new GptqQuantizer(scalar);
        var gptvq = new GptvqQuantizer(vector);
        var optimizer = codebooks is null ? null : new ActivationWeightedCodebookOptimizer(codebooks);
        long bits = 0, parameters = 0;
        int scalarCount = 0;
        for (int i = 0; i < scores.Length; i++)
        {
            LinearWeight m = matrices[i];
            bool sq = thresholds.Choose(scores[i]) == QuantizationChoice.Scalar;
            scalarCount += sq ? 1 : 0;
            bits += sq ? gptq.StoredBitsFor(m.Rows, m.Columns) : gptvq.StoredBitsFor(m.Rows, m.Columns);
            parameters += (long)m.Rows * m.Columns;
        }
        if (optimizer is not null)
        {
            foreach (string name in HybridQuantizer.MultiplicationVectors(model))
            {
                int length = checked((int)model[name].ElementCount);
                bits += optimizer.StoredBitsFor(length);
                parameters += length;
            }
        }
        MatrixCount = matrices.Length;
        ScalarMatrixCount = scalarCount;
        PlannedStoredBits = bits;
        PlannedParameters = parameters;
    }

    /// <summary>Options of the SQ branch (GPTQ).</summary>
    public GptqOptions Scalar { get; }

    /// <summary>Options of the VQ branch (GPTVQ).</summary>
    public GptvqOptions Vector { get; }

    /// <summary>The coarse-to-fine proxy thresholds.</summary>
    public ProxyThresholds Thresholds { get; }

    /// <summary>Options of the activation-weighted codebook optimizer for the multiplication vectors, or null (they stay in FP32).</summary>
    public CodebookOptimizerOptions? Codebooks { get; }

    /// <summary>Block matrices (the 2-D weights inside the blocks).</summary>
    public int MatrixCount { get; }

    /// <summary>Block matrices the thresholds send to SQ.</summary>
    public int ScalarMatrixCount { get; }

    /// <summary>Every bit the quantized tensors will store.</summary>
    public long PlannedStoredBits { get; }

    /// <summary>Parameters of the quantized tensors.</summary>
    public long PlannedParameters { get; }

    /// <summary>Bits per weight over the quantized tensors, <c>PlannedStoredBits / PlannedParameters</c>.</summary>
    public double PlannedBitsPerWeight => (double)PlannedStoredBits / PlannedParameters;

    /// <summary>A one-line description, e.g. <c>gptq a3 g64 + gptvq d1 b3 g2x32, 130/144 SQ, codebooks b3 g64: 3.5958 bpw</c>.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{new GptqQuantizer(Scalar).Name} + {new GptvqQuantizer(Vector).Name}, {ScalarMatrixCount}/{MatrixCount} SQ, " +
        $"{(Codebooks is { } c ? $"codebooks b{c.Bits} g{c.GroupSize}" : "no codebooks")}: {PlannedBitsPerWeight:F4} bpw");

    /// <summary>The paper's settings, thresholds scaled (<see cref="ProxyThresholds.ScaledForTargetScalarFraction"/>) so that <paramref name="scalarFraction"/> of the block matrices go to SQ.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="scalarFraction"/> is outside [0, 1].</exception>
    /// <exception cref="ArgumentException">The model has no block matrices.</exception>
    public static HybridPlan ForScalarFraction(RwkvModel model, double scalarFraction = PaperScalarFraction,
        bool codebooks = true, ScalarFractionMeasure measure = ScalarFractionMeasure.MatrixCount)
    {
        (ProxyScore[] scores, LinearWeight[] matrices) = Score(model);
        ProxyThresholds thresholds = ProxyThresholds.ScaledForTargetScalarFraction(scores, scalarFraction, measure);
        return new HybridPlan(model, scores, matrices, PaperScalar(3, 64), PaperVector(3, 2, 32), thresholds, codebooks ? CodebookOptimizerOptions.Default : null);
    }

    /// <summary>The paper's settings with explicit thresholds.</summary>
    /// <exception cref="ArgumentException">The model has no block matrices.</exception>
    public static HybridPlan ForThresholds(RwkvModel model, ProxyThresholds thresholds, bool codebooks = true)
    {
        ArgumentNullException.ThrowIfNull(thresholds);
        (ProxyScore[] scores, LinearWeight[] matrices) = Score(model);
        return new HybridPlan(model, scores, matrices, PaperScalar(3, 64), PaperVector(3, 2, 32), thresholds, codebooks ? CodebookOptimizerOptions.Default : null);
    }

    /// <summary>
    /// The settings whose planned bits per weight (over the quantized tensors) are the largest not above
    /// <paramref name="target"/>, with <paramref name="scalarFraction"/> of the block matrices in SQ: code widths 2, 3 and
    /// 4 bits (SQ and VQ alike), SQ groups of 32, 64, 128 or 256 columns with FP16 scale and zero, VQ codebooks (d = 1,
    /// int8 with an FP16 scale) per 2×32, 4×32, 4×64 or 8×64 weights. Ties go to the finer SQ groups.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="target"/> is not a positive finite number, or
    /// <paramref name="scalarFraction"/> is outside [0, 1].</exception>
    /// <exception cref="ArgumentException">No setting fits the budget (the message gives the smallest reachable).</exception>
    public static HybridPlan ForBitsPerWeight(RwkvModel model, double target, double scalarFraction = PaperScalarFraction,
        bool codebooks = true, ScalarFractionMeasure measure = ScalarFractionMeasure.MatrixCount)
    {
        if (!(target > 0) || double.IsInfinity(target))
            throw new ArgumentOutOfRangeException(nameof(target), target, "The bits-per-weight budget is a positive number.");
        (ProxyScore[] scores, LinearWeight[] matrices) = Score(model);
        ProxyThresholds thresholds = ProxyThresholds.ScaledForTargetScalarFraction(scores, scalarFraction, measure);
        CodebookOptimizerOptions? codebookOptions = codebooks ? CodebookOptimizerOptions.Default : null;
        HybridPlan? best = null, smallest = null;
        foreach (int bits in new[] { 2, 3, 4 })
        {
            foreach (int groupSize in ScalarGroupSizes)
            {
                foreach ((int rows, int columns) in VectorGroups)
                {
                    var plan = new HybridPlan(model, scores, matrices, PaperScalar(bits, groupSize), PaperVector(bits, rows, columns), thresholds, codebookOptions);
                    if (smallest is null || plan.PlannedStoredBits < smallest.PlannedStoredBits)
                        smallest = plan;
                    if (plan.PlannedBitsPerWeight <= target && (best is null || plan.PlannedStoredBits > best.PlannedStoredBits))
                        best = plan;
                }
            }
        }
        return best ?? throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
            $"No setting reaches {target} bits per weight with {scalarFraction:P0} of the matrices in SQ{(codebooks ? " and codebooks for the multiplication vectors" : "")}; " +
            $"the smallest is {smallest!.PlannedBitsPerWeight:F4} ({smallest})."), nameof(target));
    }

    /// <summary>A builder preset with this plan's proxy, thresholds, quantizers and codebook optimizer; more parts may not be added.</summary>
    public HybridQuantizerBuilder CreateBuilder()
    {
        HybridQuantizerBuilder builder = HybridQuantizer.CreateBuilder()
            .UseProxy(new CoarseToFineProxy(), Thresholds)
            .UseScalar(new GptqQuantizer(Scalar))
            .UseVector(new GptvqQuantizer(Vector));
        return Codebooks is { } c ? builder.UseCodebookOptimizer(new ActivationWeightedCodebookOptimizer(c)) : builder;
    }

    /// <summary>The quantizer for this plan.</summary>
    public HybridQuantizer Build() => CreateBuilder().Build();

    private static GptqOptions PaperScalar(int bits, int groupSize) => new() { Bits = bits, GroupSize = groupSize };

    private static GptvqOptions PaperVector(int bits, int rows, int columns) =>
        new() { Codebooks = new KMeansOptions { Dimension = 1, Bits = bits, GroupRows = rows, GroupColumns = columns } };

    private static (ProxyScore[] Scores, LinearWeight[] Matrices) Score(RwkvModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        LinearWeight[] matrices = [.. LinearWeights.Of(model).Where(w => w.Block >= 0)];
        if (matrices.Length == 0)
            throw new ArgumentException("The model has no weight matrices inside its blocks to quantize.", nameof(model));
        var proxy = new CoarseToFineProxy();
        return ([.. matrices.Select(w => proxy.Score(w.ToMatrix(model[w.Name])))], matrices);
    }
}
