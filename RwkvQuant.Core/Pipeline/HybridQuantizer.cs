using RwkvQuant.Calibration;
using RwkvQuant.Codebooks;
using RwkvQuant.Formats;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Native;
using RwkvQuant.Proxy;
using RwkvQuant.Quantization;
using static TorchSharp.torch;

namespace RwkvQuant.Pipeline;

/// <summary>
/// The RWKVQuant pipeline: every 2-D weight inside the blocks goes to scalar or vector quantization as the selector
/// decides, every element-wise multiplication vector to the codebook optimizer (when one is set), and everything else
/// (embedding and head in FP16, the rest in FP32) is kept. Built with <see cref="CreateBuilder"/>; immutable and
/// thread-safe (the parts are stateless).
/// <para>Calibration is sequential, block by block (GPTQ's sequential mode): block i runs over the calibration samples'
/// activations as blocks &lt; i, already replaced by their dequantized quantized weights, hand them on, collecting the
/// Hessian of each of block i's linear weights and the channel importances s_j = E[x_j²] of each of its
/// multiplication vectors; block i is then quantized and the next block sees it. The activations at the current
/// block's input are kept for every calibration sample (samples × tokens × C floats; twice that for RWKV-7), so each
/// block runs twice per sample — once observed, once quantized to produce the next block's input — and the earlier
/// blocks are never re-run.</para>
/// </summary>
public sealed class HybridQuantizer
{
    private readonly IReadOnlyDictionary<string, IScalarQuantizer> _scalarFor;
    private readonly IReadOnlyDictionary<string, IVectorQuantizer> _vectorFor;
    private readonly IReadOnlyDictionary<string, QuantizationChoice> _pinned;
    private readonly IReadOnlySet<string> _kept;

    internal HybridQuantizer(IQuantizationSelector selector, IScalarQuantizer scalar, IVectorQuantizer vector, ICodebookOptimizer? codebooks,
        IReadOnlyDictionary<string, IScalarQuantizer> scalarFor, IReadOnlyDictionary<string, IVectorQuantizer> vectorFor,
        IReadOnlyDictionary<string, QuantizationChoice> pinned, IReadOnlySet<string> kept,
        IScalarQuantizer? embedding, IScalarQuantizer? head, TensorDataType embeddingType)
    {
        EmbeddingQuantizer = embedding;
        HeadQuantizer = head;
        EmbeddingType = embeddingType;
        _scalarFor = scalarFor;
        _vectorFor = vectorFor;
        _pinned = pinned;
        _kept = kept;
        Selector = selector;
        ScalarQuantizer = scalar;
        VectorQuantizer = vector;
        CodebookOptimizer = codebooks;
    }

    /// <summary>A new builder.</summary>
    public static HybridQuantizerBuilder CreateBuilder() => new();

    /// <summary>Chooses SQ or VQ per matrix.</summary>
    public IQuantizationSelector Selector { get; }

    /// <summary>The SQ branch.</summary>
    public IScalarQuantizer ScalarQuantizer { get; }

    /// <summary>The VQ branch.</summary>
    public IVectorQuantizer VectorQuantizer { get; }

    /// <summary>The SQ quantizer of a tensor: its own when one was set, else <see cref="ScalarQuantizer"/>.</summary>
    public IScalarQuantizer ScalarQuantizerFor(string tensorName) => _scalarFor.GetValueOrDefault(tensorName, ScalarQuantizer);

    /// <summary>The VQ quantizer of a tensor: its own when one was set, else <see cref="VectorQuantizer"/>.</summary>
    public IVectorQuantizer VectorQuantizerFor(string tensorName) => _vectorFor.GetValueOrDefault(tensorName, VectorQuantizer);

    /// <summary>The codebook optimizer for multiplication vectors, or null (they stay in FP32).</summary>
    public ICodebookOptimizer? CodebookOptimizer { get; }

    /// <summary>The tensors sent to SQ or VQ whatever the selector says (<see cref="HybridQuantizerBuilder.PinScalar"/>), by canonical name.</summary>
    public IReadOnlyDictionary<string, QuantizationChoice> PinnedChoices => _pinned;

    /// <summary>The embedding's quantizer (weights alone), or null: kept as <see cref="EmbeddingType"/>.</summary>
    public IScalarQuantizer? EmbeddingQuantizer { get; }

    /// <summary>The head's quantizer (weights alone), or null: kept as <see cref="EmbeddingType"/>.</summary>
    public IScalarQuantizer? HeadQuantizer { get; }

    /// <summary>The type of the embedding and head when kept (F16 by default).</summary>
    public TensorDataType EmbeddingType { get; }

    /// <summary>The block matrices left unquantized (<see cref="HybridQuantizerBuilder.Keep"/>), by canonical name.</summary>
    public IReadOnlySet<string> KeptMatrices => _kept;

    /// <summary>
    /// True when the pipeline needs a calibration pass (<see cref="QuantizeAsync"/>): it has a codebook optimizer, or a
    /// quantizer it may use needs the full Hessian (GPTQ, GPTVQ). False when every quantizer it may use works from the
    /// weights alone (RTN, ggml formats, k-quants) or from an <see cref="ImportanceMatrix"/>
    /// (<see cref="IImportanceQuantizer"/>): then <see cref="QuantizeWithoutCalibrationToFileAsync"/> does the work in
    /// one pass over the weights. With a <see cref="FixedSelector"/>, only that branch's quantizers count.
    /// </summary>
    public bool RequiresCalibration => CodebookOptimizer is not null || QuantizersInUse().Any(q => q.RequiresHessian && !q.Importance);

    /// <summary>True when a quantizer the pipeline may use weights its rounding by an importance matrix (k-quants with <c>imatrix</c>).</summary>
    public bool UsesImportance => QuantizersInUse().Any(q => q.RequiresHessian && q.Importance);

    /// <summary>Whether each quantizer the selector and the pins may use needs a Hessian, and whether it can take importances instead.</summary>
    private IEnumerable<(bool RequiresHessian, bool Importance)> QuantizersInUse()
    {
        bool onlyScalar = Selector is FixedSelector { Choice: QuantizationChoice.Scalar } && !_pinned.Values.Contains(QuantizationChoice.Vector);
        bool onlyVector = Selector is FixedSelector { Choice: QuantizationChoice.Vector } && !_pinned.Values.Contains(QuantizationChoice.Scalar);
        IEnumerable<(bool, bool)> scalar = onlyVector ? []
            : _scalarFor.Values.Prepend(ScalarQuantizer).Select(q => (q.RequiresHessian, q is IImportanceQuantizer));
        IEnumerable<(bool, bool)> vector = onlyScalar ? [] : _vectorFor.Values.Prepend(VectorQuantizer).Select(q => (q.RequiresHessian, false));
        return scalar.Concat(vector);
    }

    /// <summary>
    /// The canonical names of <paramref name="model"/>'s block matrices — every 2-D weight inside the blocks, the ones
    /// the pipeline quantizes (att/ffn projections and LoRA matrices; not the embedding or the head) — block by block.
    /// </summary>
    public static IReadOnlyList<string> BlockMatrices(RwkvModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return [.. LinearWeights.Of(model).Where(w => w.Block >= 0).Select(w => w.Name)];
    }

    /// <summary>
    /// The canonical names of <paramref name="model"/>'s element-wise multiplication vectors (DESIGN.md section 5; v7
    /// <c>att.x_r … att.x_g, att.k_k, att.k_a, att.r_k, ffn.x_k</c>, v6 <c>att.time_maa_x, att.time_maa_{w,k,v,r,g},
    /// ffn.time_maa_k, ffn.time_maa_r</c>, v4/v5 the <c>time_mix_*</c> vectors), block by block.
    /// </summary>
    public static IReadOnlyList<string> MultiplicationVectors(RwkvModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return MultiplicationVectors(model.Config, model.Tensors.ContainsKey);
    }

    private static List<string> MultiplicationVectors(RwkvConfig config, Func<string, bool> exists)
    {
        string[] suffixes = config.Version switch
        {
            RwkvVersion.V7 => ["att.x_r", "att.x_w", "att.x_k", "att.x_v", "att.x_a", "att.x_g", "att.k_k", "att.k_a", "att.r_k", "ffn.x_k"],
            RwkvVersion.V6 => ["att.time_maa_x", "att.time_maa_w", "att.time_maa_k", "att.time_maa_v", "att.time_maa_r", "att.time_maa_g", "ffn.time_maa_k", "ffn.time_maa_r"],
            _ => ["att.time_mix_k", "att.time_mix_v", "att.time_mix_r", "att.time_mix_g", "ffn.time_mix_k", "ffn.time_mix_r"],
        };
        var names = new List<string>();
        for (int block = 0; block < config.LayerCount; block++)
        {
            foreach (string suffix in suffixes)
            {
                string name = $"blocks.{block}.{suffix}";
                if (exists(name))
                    names.Add(name);
            }
        }
        return names;
    }

    /// <summary>
    /// Quantizes <paramref name="model"/> with <paramref name="calibration"/> (see the class remarks). The CPU-bound
    /// work runs on a thread-pool thread (<see cref="Task.Run(Action, CancellationToken)"/>); <paramref name="progress"/>
    /// is called on that thread.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (checked between
    /// tensors and calibration batches); nothing is returned or written.</exception>
    /// <exception cref="ArgumentException">A quantizer rejects a weight (the message names it).</exception>
    /// <exception cref="InvalidOperationException">A weight or vector saw no calibration input; or the run would need more
    /// memory than the machine has (<see cref="MemoryEstimate"/>; checked before any work, the message gives both).</exception>
    public Task<HybridQuantizationResult> QuantizeAsync(RwkvModel model, CalibrationData calibration,
        IProgress<HybridProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(calibration);
        return Task.Run(() =>
        {
            using var meter = new PhaseMeter();
            var quantized = new List<QuantizedTensor>();
            List<HybridTensorReport> reports = Quantize(model, calibration, null, holdsOutput: true, quantized.Add, meter, progress, cancellationToken);
            cancellationToken.ThrowIfCancellationRequested();
            return Result(QuantizedModel.Create(model, quantized, EmbeddingType), reports, meter.Costs());
        }, cancellationToken);
    }

    /// <summary>
    /// <see cref="QuantizeAsync"/> that writes the quantized model to <paramref name="path"/> (a <c>.rwkvq</c> file, as
    /// <see cref="QuantizedModelFile.Save(QuantizedModel, string, CancellationToken)"/> writes it) block by block as it
    /// goes, instead of holding every quantized tensor until the end: the way to quantize a model whose quantized
    /// tensors are GBs. The output's folder is checked before any work; the file appears, atomically, only when complete
    /// (on failure or cancellation nothing is left, and a previous file there is kept). The result's model is read back
    /// from the file written (its packed tensors in memory, after quantization has freed its own).
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The output's folder does not exist (checked first).</exception>
    /// <exception cref="UnauthorizedAccessException">The output's folder is not writable (checked first).</exception>
    /// <exception cref="IOException">Writing failed, e.g. the disk is full; nothing is left behind.</exception>
    /// <inheritdoc cref="QuantizeAsync" path="/exception"/>
    public Task<HybridQuantizationResult> QuantizeToFileAsync(RwkvModel model, CalibrationData calibration, string path,
        IProgress<HybridProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(calibration);
        ArgumentException.ThrowIfNullOrEmpty(path);
        return Task.Run(() => QuantizeToFile(model, calibration, null, path, progress, cancellationToken), cancellationToken);
    }

    /// <summary>
    /// Quantizes every block matrix from its weights alone — with <paramref name="importance"/> for the quantizers that
    /// weight by it (<see cref="IImportanceQuantizer"/>: the k-quants with <c>imatrix</c>) — in one pass, without
    /// calibration, and writes the <c>.rwkvq</c> file as <see cref="QuantizeToFileAsync"/> does: llama-quantize's way, for
    /// RTN, the ggml formats and the k-quants. Each matrix's relative error is weighted by the importances when there are
    /// some, else unweighted (‖W−Q‖² / ‖W‖²).
    /// </summary>
    /// <exception cref="InvalidOperationException">The pipeline needs calibration (<see cref="RequiresCalibration"/>), or a
    /// quantizer needs importances and <paramref name="importance"/> is null.</exception>
    /// <exception cref="InvalidDataException"><paramref name="importance"/> was not made for this model.</exception>
    /// <inheritdoc cref="QuantizeToFileAsync" path="/exception"/>
    public Task<HybridQuantizationResult> QuantizeWithoutCalibrationToFileAsync(RwkvModel model, ImportanceMatrix? importance, string path,
        IProgress<HybridProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(path);
        EnsureCalibrationFree(importance);
        return Task.Run(() => QuantizeToFile(model, null, importance, path, progress, cancellationToken), cancellationToken);
    }

    /// <summary><see cref="QuantizeWithoutCalibrationToFileAsync"/> that keeps the quantized model in memory.</summary>
    /// <inheritdoc cref="QuantizeWithoutCalibrationToFileAsync" path="/exception"/>
    public Task<HybridQuantizationResult> QuantizeWithoutCalibrationAsync(RwkvModel model, ImportanceMatrix? importance,
        IProgress<HybridProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        EnsureCalibrationFree(importance);
        return Task.Run(() =>
        {
            using var meter = new PhaseMeter();
            var quantized = new List<QuantizedTensor>();
            List<HybridTensorReport> reports = Quantize(model, null, importance, holdsOutput: true, quantized.Add, meter, progress, cancellationToken);
            cancellationToken.ThrowIfCancellationRequested();
            return Result(QuantizedModel.Create(model, quantized, EmbeddingType), reports, meter.Costs());
        }, cancellationToken);
    }

    private void EnsureCalibrationFree(ImportanceMatrix? importance)
    {
        if (RequiresCalibration)
            throw new InvalidOperationException("This pipeline needs a calibration pass (GPTQ, GPTVQ or codebooks use the calibration's Hessians or " +
                "importances): use QuantizeAsync or QuantizeToFileAsync.");
        if (importance is null && UsesImportance)
            throw new InvalidOperationException("A quantizer of this pipeline weights by an importance matrix: pass one (ImportanceMatrix.Collect or " +
                "Load), or calibrate.");
    }

    private HybridQuantizationResult QuantizeToFile(RwkvModel model, CalibrationData? calibration, ImportanceMatrix? importance, string path,
        IProgress<HybridProgress>? progress, CancellationToken cancellationToken)
    {
        using var meter = new PhaseMeter();
        var linear = LinearWeights.Of(model).ToDictionary(w => w.Name, StringComparer.Ordinal);
        var replaced = new HashSet<string>(StringComparer.Ordinal);
        List<HybridTensorReport> reports;
        using (var file = new QuantizedModelWriter(path, model.Config))
        {
            reports = Quantize(model, calibration, importance, holdsOutput: false, tensor =>
            {
                file.Add(QuantizedModel.SlotFor(model, linear, tensor));
                replaced.Add(tensor.Name);
            }, meter, progress, cancellationToken);
            meter.Begin();
            foreach (TensorData kept in QuantizedModel.KeptTensors(model, replaced, EmbeddingType))
            {
                cancellationToken.ThrowIfCancellationRequested();
                file.Add(kept);
            }
            cancellationToken.ThrowIfCancellationRequested();
            file.Complete(cancellationToken);
            meter.End(QuantizationPhase.Writing);
        }
        return Result(QuantizedModelFile.Load(path), reports, meter.Costs());
    }

    /// <summary>The result: <paramref name="reports"/> (the quantized tensors') and a line for each tensor kept in full precision.</summary>
    private HybridQuantizationResult Result(QuantizedModel model, List<HybridTensorReport> reports, IReadOnlyList<PhaseCost> phases)
    {
        IReadOnlyDictionary<string, IReadOnlyList<long>> shapes = model.CanonicalShapes;
        var multiplication = MultiplicationVectors(model.Config, shapes.ContainsKey).ToHashSet(StringComparer.Ordinal);
        foreach (StoredTensorInfo info in model.Tensors.Where(t => !t.IsQuantized))
        {
            HybridTensorKind kind = multiplication.Contains(info.Name) ? HybridTensorKind.MultiplicationVector
                : _kept.Contains(info.Name) ? HybridTensorKind.Matrix
                : HybridTensorKind.Kept;
            reports.Add(new HybridTensorReport(info.Name, kind,
                null, null, HybridMethod.Kept, info.Scheme, info.Parameters, info.StoredBits, null));
        }
        return new HybridQuantizationResult(model, reports, Selector.Name, phases);
    }

    /// <summary>Calibrates and quantizes block by block, handing each quantized tensor to <paramref name="output"/> as
    /// it is made; returns their reports.</summary>
    private List<HybridTensorReport> Quantize(RwkvModel model, CalibrationData? calibration, ImportanceMatrix? importance, bool holdsOutput,
        Action<QuantizedTensor> output, PhaseMeter meter, IProgress<HybridProgress>? progress, CancellationToken cancellationToken)
    {
        List<LinearWeight> blockMatrices = [.. LinearWeights.Of(model).Where(w => w.Block >= 0)];
        var names = blockMatrices.Select(w => w.Name).ToHashSet(StringComparer.Ordinal);
        if (_kept.Concat(_pinned.Keys).FirstOrDefault(n => !names.Contains(n)) is { } unknown)
            throw new ArgumentException($"'{unknown}' is kept or pinned, but it is no block matrix of {model.SourcePath ?? "this model"}.", nameof(model));
        if (importance is not null)
            importance.EnsureMatches(model);
        List<HybridTensorReport> reports = calibration is null
            ? QuantizeWeights(model, blockMatrices, importance, output, meter, progress, cancellationToken)
            : QuantizeCalibrated(model, blockMatrices, calibration, holdsOutput, output, meter, progress, cancellationToken);
        foreach ((string name, IScalarQuantizer? quantizer) in new[] { ("emb.weight", EmbeddingQuantizer), ("head.weight", HeadQuantizer) })
        {
            if (quantizer is null || !model.Tensors.TryGetValue(name, out TensorData? tensor))
                continue;
            cancellationToken.ThrowIfCancellationRequested();
            meter.Begin();
            TensorData matrix = tensor.Shape.Count == 2 ? tensor : tensor.Reshape([tensor.Shape[0], tensor.ElementCount / tensor.Shape[0]]);
            QuantizedTensor q = quantizer.Quantize(matrix, null, cancellationToken);
            meter.End(QuantizationPhase.Scalar);
            meter.Begin();
            double relative = ImportanceWeightedError(matrix.ToFloatArray(), q.Dequantize(), (int)matrix.Shape[1], null);
            meter.End(QuantizationPhase.ErrorReport);
            meter.Begin();
            output(q);
            meter.End(QuantizationPhase.Writing);
            reports.Add(new HybridTensorReport(name, HybridTensorKind.EmbeddingOrHead, null, null, HybridMethod.Scalar, q.Scheme, q.ElementCount,
                q.StoredBits, relative));
            NativeMemory.Release();
        }
        return reports;
    }

    /// <summary>Every block matrix from its weights alone (and <paramref name="importance"/>), block by block.</summary>
    private List<HybridTensorReport> QuantizeWeights(RwkvModel model, List<LinearWeight> blockMatrices, ImportanceMatrix? importance,
        Action<QuantizedTensor> output, PhaseMeter meter, IProgress<HybridProgress>? progress, CancellationToken cancellationToken)
    {
        int blocks = model.Config.LayerCount;
        List<LinearWeight> matrices = [.. blockMatrices.Where(w => !_kept.Contains(w.Name))];
        int total = matrices.Count, done = 0;
        var reports = new List<HybridTensorReport>();
        for (int block = 0; block < blocks; block++)
        {
            progress?.Report(new HybridProgress(block, blocks, done, total, null));
            foreach (LinearWeight weight in matrices.Where(w => w.Block == block))
            {
                cancellationToken.ThrowIfCancellationRequested();
                TensorData matrix = weight.ToMatrix(model[weight.Name]);
                float[]? s = importance?.For(weight.Name);
                meter.Begin();
                (QuantizedTensor q, HybridMethod method, ProxyScore? score) = QuantizeMatrix(weight.Name, matrix, null, s, cancellationToken);
                meter.End(method == HybridMethod.Scalar ? QuantizationPhase.Scalar : QuantizationPhase.Vector);
                meter.Begin();
                double relative = ImportanceWeightedError(matrix.ToFloatArray(), q.Dequantize(), weight.Columns, s);
                meter.End(QuantizationPhase.ErrorReport);
                meter.Begin();
                output(q);
                meter.End(QuantizationPhase.Writing);
                reports.Add(new HybridTensorReport(weight.Name, HybridTensorKind.Matrix, score?.Coarse, score?.Fine, method, q.Scheme,
                    q.ElementCount, q.StoredBits, relative));
                NativeMemory.Release();
                progress?.Report(new HybridProgress(block, blocks, ++done, total, weight.Name));
            }
        }
        return reports;
    }

    /// <summary>Σ_j s_j Σ_i (w_ij − q_ij)² / Σ_j s_j Σ_i w_ij² (s_j = 1 without importances); 0 for an all-zero weight.</summary>
    private static double ImportanceWeightedError(float[] weight, float[] quantized, int columns, float[]? importance)
    {
        double error = 0, reference = 0;
        for (int k = 0; k < weight.Length; k++)
        {
            double s = importance is null ? 1 : importance[k % columns];
            double d = weight[k] - (double)quantized[k];
            error += s * d * d;
            reference += s * weight[k] * (double)weight[k];
        }
        return reference > 0 ? error / reference : 0;
    }

    /// <summary>Sequential calibration and quantization (see the class remarks).</summary>
    private List<HybridTensorReport> QuantizeCalibrated(RwkvModel model, List<LinearWeight> blockMatrices, CalibrationData calibration, bool holdsOutput,
        Action<QuantizedTensor> output, PhaseMeter meter, IProgress<HybridProgress>? progress, CancellationToken cancellationToken)
    {
        MemoryEstimate memory = MemoryEstimate.For(model, calibration.Options, holdsOutput);
        if (!memory.Fits)
        {
            throw new InvalidOperationException(
                $"Quantizing {model.SourcePath ?? "this model"} would need more memory than this machine has: {memory}. Use fewer calibration samples or " +
                    "tokens per sample, or a machine with more memory.");
        }
        int blocks = model.Config.LayerCount;
        List<LinearWeight> matrices = [.. blockMatrices.Where(w => !_kept.Contains(w.Name))];
        IReadOnlyList<string> vectors = CodebookOptimizer is null ? [] : MultiplicationVectors(model);
        int total = matrices.Count + vectors.Count, done = 0;
        var reports = new List<HybridTensorReport>();

        // Networks copy a block to float32 only when it runs (NetworkWeights), so each phase below holds one block.
        BlockInputs inputs;
        meter.Begin();
        using (RwkvNetwork embedding = RwkvNetwork.Create(model))
            inputs = BlockInputs.Embed(embedding, calibration, cancellationToken);
        meter.End(QuantizationPhase.Calibration);
        NativeMemory.Release(); // the embedding's float32 copy
        using (inputs)
        {
            for (int block = 0; block < blocks; block++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                progress?.Report(new HybridProgress(block, blocks, done, total, null));
                string prefix = $"blocks.{block}.";
                var blockVectors = vectors.Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).ToList();
                IReadOnlyDictionary<string, double[]> importances;
                Dictionary<string, Hessian> hessians;
                // This block's tensors as quantized: what the next block's inputs are computed with.
                var replaced = new Dictionary<string, TensorData>(StringComparer.Ordinal);
                using (HessianCollector hessianCollector = HessianCollector.ForBlock(model, block))
                using (RwkvNetwork network = RwkvNetwork.Create(model))
                {
                    var importanceCollector = new ChannelImportanceCollector(blockVectors);
                    meter.Begin();
                    inputs.Observe(network, new BothObservers(hessianCollector, importanceCollector), null, cancellationToken);
                    meter.End(QuantizationPhase.Calibration);
                    meter.Begin();
                    hessians = hessianCollector.BuildAndRelease().ToDictionary(StringComparer.Ordinal);
                    importances = blockVectors.Count == 0 ? new Dictionary<string, double[]>() : importanceCollector.Build();
                    meter.End(QuantizationPhase.Hessians);
                }
                NativeMemory.Trim(); // the block's activations and accumulators

                foreach (LinearWeight weight in matrices.Where(w => w.Block == block))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    TensorData canonical = model[weight.Name];
                    TensorData matrix = weight.ToMatrix(canonical);
                    Hessian hessian = hessians[weight.Name];
                    meter.Begin();
                    (QuantizedTensor q, HybridMethod method, ProxyScore? score) = QuantizeMatrix(weight.Name, matrix, hessian, null, cancellationToken);
                    meter.End(method == HybridMethod.Scalar ? QuantizationPhase.Scalar : QuantizationPhase.Vector);
                    meter.Begin();
                    float[] w = matrix.ToFloatArray(), dequantized = q.Dequantize();
                    (double error, double reference) = hessian.RelativeErrorTerms(w, dequantized);
                    meter.End(QuantizationPhase.ErrorReport);
                    hessians.Remove(weight.Name); // done with: the block's widest Hessian (quantized last) then has the memory to itself
                    meter.Begin();
                    output(q);
                    meter.End(QuantizationPhase.Writing);
                    replaced[weight.Name] = new QuantizedSlot(q, weight.Layout, canonical.Shape).ToCanonical();
                    reports.Add(new HybridTensorReport(weight.Name, HybridTensorKind.Matrix, score?.Coarse, score?.Fine, method, q.Scheme,
                        q.ElementCount, q.StoredBits, reference > 0 ? error / reference : 0));
                    NativeMemory.Release(); // the quantizer's n×n work and the matrix's float32 copies (large-object garbage that would otherwise pile up to GBs)
                    progress?.Report(new HybridProgress(block, blocks, ++done, total, weight.Name));
                }

                foreach (string name in blockVectors)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    TensorData vector = model[name];
                    float[] s = importances[name].Select(v => (float)v).ToArray();
                    bool weighted = s.Any(v => v > 0);
                    meter.Begin();
                    QuantizedMultiplicationVector q = CodebookOptimizer!.Quantize(vector, weighted ? s : [], cancellationToken);
                    meter.End(QuantizationPhase.Codebooks);
                    float[] mu = vector.ToFloatArray();
                    double reference = 0;
                    for (int j = 0; j < mu.Length; j++)
                        reference += (weighted ? s[j] : 1.0) * mu[j] * mu[j];
                    double error = q.WeightedError(mu, weighted ? s : []);
                    var tensor = new MultiplicationVectorTensor(q);
                    meter.Begin();
                    output(tensor);
                    meter.End(QuantizationPhase.Writing);
                    replaced[name] = q.ToTensorData();
                    reports.Add(new HybridTensorReport(name, HybridTensorKind.MultiplicationVector, null, null, HybridMethod.Codebook, q.Scheme,
                        q.Length, q.StoredBits, reference > 0 ? error / reference : 0));
                    progress?.Report(new HybridProgress(block, blocks, ++done, total, name));
                }

                if (block + 1 < blocks)
                {
                    // The next block's inputs come from this block as quantized.
                    using RwkvNetwork quantizedBlock = RwkvNetwork.Create(model.WithTensors(replaced));
                    meter.Begin();
                    inputs.Advance(quantizedBlock, cancellationToken);
                    meter.End(QuantizationPhase.Calibration);
                }
                hessians.Clear();
                replaced.Clear();
                NativeMemory.Release(); // this block's float32 weights, Hessians and activations' garbage go back to the system
            }
        }

        return reports;
    }

    /// <summary>
    /// The pinned choice or the selector's for <paramref name="matrix"/>, quantized with the tensor's scalar or vector
    /// quantizer: the selector's own result when it quantized the matrix with that same quantizer (the oracle over the
    /// pipeline's quantizers), else quantized here — from <paramref name="importance"/> when there is no Hessian and the
    /// quantizer weights by importances.
    /// </summary>
    private (QuantizedTensor Tensor, HybridMethod Method, ProxyScore? Score) QuantizeMatrix(string name, TensorData matrix, Hessian? hessian,
        float[]? importance, CancellationToken cancellationToken)
    {
        QuantizationSelection selection = _pinned.TryGetValue(name, out QuantizationChoice pinned)
            ? new QuantizationSelection(pinned)
            : Selector.Choose(matrix, hessian, cancellationToken);
        bool isScalar = selection.Choice == QuantizationChoice.Scalar;
        IScalarQuantizer scalar = ScalarQuantizerFor(name);
        IVectorQuantizer vector = VectorQuantizerFor(name);
        object quantizer = isScalar ? scalar : vector;
        QuantizedTensor tensor = selection.Tensor is { } ready && ReferenceEquals(selection.QuantizedWith, quantizer) ? ready
            : isScalar && hessian is null && scalar.RequiresHessian && scalar is IImportanceQuantizer weighted
                ? weighted.Quantize(matrix, importance ?? throw new InvalidOperationException($"'{name}': {scalar.Name} needs an importance " +
                    $"matrix."), cancellationToken)
            : isScalar ? scalar.Quantize(matrix, hessian, cancellationToken)
            : vector.Quantize(matrix, hessian, cancellationToken);
        return (tensor, isScalar ? HybridMethod.Scalar : HybridMethod.Vector, selection.Score);
    }

    /// <summary>Feeds one calibration pass to the Hessian and importance collectors at once.</summary>
    private sealed class BothObservers(INetworkObserver first, INetworkObserver second) : INetworkObserver
    {
        public void OnLinearInput(string weightName, Tensor input)
        {
            first.OnLinearInput(weightName, input);
            second.OnLinearInput(weightName, input);
        }

        public void OnMultiplyOperand(string vectorName, Tensor operand)
        {
            first.OnMultiplyOperand(vectorName, operand);
            second.OnMultiplyOperand(vectorName, operand);
        }
    }
}
