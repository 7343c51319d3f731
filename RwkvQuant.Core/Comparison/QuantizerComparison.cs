using System.Diagnostics;
using System.Globalization;
using System.Text;
using RwkvQuant.Calibration;
using RwkvQuant.Evaluation;
using RwkvQuant.Formats;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;
using RwkvQuant.Quantization;
using RwkvQuant.Tokenizers;

namespace RwkvQuant.Comparison;

/// <summary>
/// Compares quantizers on one model: each method quantizes every 2-D weight inside the blocks (att/ffn projections
/// and LoRA matrices, in their <c>[out, in]</c> form; not the embedding or the head), and the row reports the exact
/// bits per weight, the mean relative Hessian-weighted error tr((W−Q)H(W−Q)ᵀ) / tr(W H Wᵀ) over those tensors, and —
/// when evaluation documents are given — the bits per byte of the model with those weights replaced by their
/// dequantized values. The Hessians come from calibration (<see cref="Calibration.HessianCollector"/>).
/// </summary>
public static class QuantizerComparison
{
    /// <summary>Runs every method; the first row of the result is the float32 model itself (0 error, 32 bits).</summary>
    public static IReadOnlyList<ComparisonRow> Run(
        RwkvModel model,
        IReadOnlyDictionary<string, Hessian> hessians,
        IReadOnlyList<ComparisonMethod> methods,
        IReadOnlyList<int[]>? evaluationDocuments = null,
        ITokenizer? tokenizer = null,
        EvaluationOptions? evaluationOptions = null,
        IProgress<string>? progress = null,
        CalibrationData? calibration = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(hessians);
        ArgumentNullException.ThrowIfNull(methods);
        if (calibration is null && methods.Any(m => m.Pipeline is not null))
            throw new ArgumentException("Pipeline methods calibrate themselves: pass the calibration data.", nameof(calibration));
        if (evaluationDocuments is not null && tokenizer is null)
            throw new ArgumentException("Evaluation documents need the tokenizer that produced them.", nameof(tokenizer));
        LinearWeight[] weights = LinearWeights.Of(model).Where(w => w.Block >= 0).ToArray();
        foreach (LinearWeight weight in weights)
        {
            if (!hessians.TryGetValue(weight.Name, out Hessian? h) || h.Size != weight.Columns)
                throw new ArgumentException($"No {weight.Columns}×{weight.Columns} Hessian for '{weight.Name}'.", nameof(hessians));
        }

        var rows = new List<ComparisonRow>();
        long parameters = weights.Sum(w => (long)w.Rows * w.Columns);
        // The multiplication vectors: kept in float32 unless a pipeline quantizes them with codebooks.
        var vectors = new HashSet<string>(HybridQuantizer.MultiplicationVectors(model), StringComparer.Ordinal);
        long vectorParameters = vectors.Sum(name => model[name].ElementCount);
        progress?.Report("float32");
        using RwkvNetwork reference = RwkvNetwork.Create(model);
        var (referenceBitsPerByte, _) = Evaluate(reference, null, evaluationDocuments, tokenizer, evaluationOptions, cancellationToken);
        rows.Add(new ComparisonRow("float32", weights.Length, parameters, 32 * parameters, 0, 0,
            referenceBitsPerByte, evaluationDocuments is null ? null : 0, [], [], TimeSpan.Zero, vectorParameters, 32 * vectorParameters));

        foreach (ComparisonMethod method in methods)
        {
            progress?.Report(method.Name);
            if (method.Pipeline is { } pipeline)
            {
                (HybridQuantizer quantizer, string description) = pipeline(model, hessians, calibration!);
                rows.Add(RunPipeline(model, vectors, method.Name, quantizer, description, calibration!, reference, evaluationDocuments, tokenizer, evaluationOptions, cancellationToken));
                continue;
            }
            var stopwatch = Stopwatch.StartNew();
            var replaced = new Dictionary<string, TensorData>(StringComparer.Ordinal);
            var skipped = new List<string>();
            var notes = new List<string>();
            double errorSum = 0, errorMax = 0;
            long count = 0, quantizedParameters = 0, bits = 0;
            foreach (LinearWeight weight in weights)
            {
                cancellationToken.ThrowIfCancellationRequested();
                TensorData canonical = model[weight.Name];
                TensorData matrix = weight.ToMatrix(canonical);
                Hessian h = hessians[weight.Name];
                QuantizedTensor quantized;
                try
                {
                    quantized = method.Quantize!(matrix, method.RequiresHessian ? h : null, cancellationToken);
                }
                catch (ArgumentException exception)
                {
                    skipped.Add($"{weight.Name} [{weight.Rows}, {weight.Columns}]: {exception.Message}");
                    continue;
                }
                float[] w = matrix.ToFloatArray(), q = quantized.Dequantize();
                double relative = h.WeightedError(w, q) / h.WeightedError(w, new float[w.Length]);
                errorSum += relative;
                errorMax = Math.Max(errorMax, relative);
                count++;
                quantizedParameters += quantized.ElementCount;
                bits += quantized.StoredBits;
                notes.AddRange(quantized.Notes.Select(n => $"{weight.Name}: {n}"));
                replaced[weight.Name] = weight.FromMatrix(q, canonical.Shape);
            }
            TimeSpan quantizeTime = stopwatch.Elapsed;
            using RwkvNetwork candidate = RwkvNetwork.Create(model.WithTensors(replaced));
            var (bitsPerByte, kl) = Evaluate(candidate, reference, evaluationDocuments, tokenizer, evaluationOptions, cancellationToken);
            rows.Add(new ComparisonRow(method.Name, checked((int)count), quantizedParameters, bits,
                count == 0 ? double.NaN : errorSum / count, errorMax, bitsPerByte, kl,
                skipped, notes, quantizeTime, vectorParameters, 32 * vectorParameters));
        }
        return rows;
    }

    /// <summary>
    /// A pipeline row: <paramref name="quantizer"/> with its sequential calibration. Its tensors are the block matrices;
    /// the multiplication vectors are counted as the quantized model stores them (codebooks, or float32 when kept); its
    /// errors are the block matrices' relative H-errors under the pipeline's own (sequential) Hessians.
    /// </summary>
    private static ComparisonRow RunPipeline(RwkvModel model, HashSet<string> vectors, string name, HybridQuantizer quantizer, string description, CalibrationData calibration, RwkvNetwork reference,
        IReadOnlyList<int[]>? evaluationDocuments, ITokenizer? tokenizer, EvaluationOptions? evaluationOptions, CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        HybridQuantizationResult result = quantizer.QuantizeAsync(model, calibration, cancellationToken: cancellationToken).GetAwaiter().GetResult();
        TimeSpan quantizeTime = stopwatch.Elapsed;
        double[] errors = [.. result.Tensors.Where(t => t.Kind == HybridTensorKind.Matrix).Select(t => t.RelativeError ?? 0)];
        QuantizedModel q = result.Model;
        int scalar = result.Tensors.Count(t => t.Method == HybridMethod.Scalar), matrices = result.Tensors.Count(t => t.Kind == HybridTensorKind.Matrix);
        var notes = new List<string> { $"{description}; {scalar}/{matrices} matrices SQ; errors under the sequential Hessians" };
        notes.AddRange(q.QuantizedTensors.SelectMany(t => t.Notes.Select(n => $"{t.Name}: {n}")));
        using RwkvNetwork candidate = RwkvNetwork.Create(q.ToDequantizedModel());
        var (bitsPerByte, kl) = Evaluate(candidate, reference, evaluationDocuments, tokenizer, evaluationOptions, cancellationToken);
        QuantizedTensor[] matrixTensors = [.. q.QuantizedTensors.Where(t => !vectors.Contains(t.Name))];
        long vectorParameters = vectors.Sum(n => model[n].ElementCount);
        long vectorBits = q.QuantizedTensors.Where(t => vectors.Contains(t.Name)).Sum(t => t.StoredBits)
            + 32 * q.FullPrecisionTensors.Where(t => vectors.Contains(t.Name)).Sum(t => t.ElementCount);
        return new ComparisonRow(name, matrixTensors.Length, matrixTensors.Sum(t => t.ElementCount), matrixTensors.Sum(t => t.StoredBits),
            errors.Length == 0 ? double.NaN : errors.Average(), errors.Length == 0 ? 0 : errors.Max(), bitsPerByte, kl, [], notes, quantizeTime,
            vectorParameters, vectorBits);
    }

    /// <summary>The rows as a plain-text (Markdown) table.</summary>
    public static string Format(IReadOnlyList<ComparisonRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var text = new StringBuilder();
        CultureInfo c = CultureInfo.InvariantCulture;
        text.AppendLine("| method | tensors | parameters | bits/weight | with μ | mean rel. H-error | max rel. H-error | bits/byte | KL to float32 | quantize time |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (ComparisonRow row in rows)
        {
            text.AppendLine(string.Create(c,
                $"| {row.Method} | {row.TensorCount} | {row.Parameters:N0} | {row.BitsPerWeight:F4} | {row.TotalBitsPerWeight:F4} | {row.MeanRelativeError:E3} | {row.MaxRelativeError:E3} | {(row.BitsPerByte is { } b ? b.ToString("F4", c) : "–")} | {(row.KlDivergence is { } kl ? kl.ToString("E3", c) : "–")} | {row.QuantizeTime.TotalSeconds:F1} s |"));
        }
        foreach (ComparisonRow row in rows.Where(r => r.Skipped.Count > 0 || r.Notes.Count > 0))
        {
            foreach (string s in row.Skipped)
                text.AppendLine(CultureInfo.InvariantCulture, $"- {row.Method} skipped {s}");
            foreach (string n in row.Notes)
                text.AppendLine(CultureInfo.InvariantCulture, $"- {row.Method}: {n}");
        }
        return text.ToString();
    }

    /// <summary>Bits per byte of <paramref name="network"/> and, given a reference, its mean KL(reference ‖ network).</summary>
    private static (double? BitsPerByte, double? Kl) Evaluate(RwkvNetwork network, RwkvNetwork? reference, IReadOnlyList<int[]>? documents,
        ITokenizer? tokenizer, EvaluationOptions? options, CancellationToken cancellationToken)
    {
        if (documents is null)
            return (null, null);
        double bitsPerByte = PerplexityEvaluator.Evaluate(network, documents, tokenizer!, options, cancellationToken: cancellationToken).BitsPerByte;
        double? kl = reference is null ? null : KlDivergenceEvaluator.Evaluate(reference, network, documents, options, cancellationToken: cancellationToken).MeanKl;
        return (bitsPerByte, kl);
    }
}
