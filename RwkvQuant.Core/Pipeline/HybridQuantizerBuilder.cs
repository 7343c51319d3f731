using RwkvQuant.Formats;
using RwkvQuant.Codebooks;
using RwkvQuant.Proxy;
using RwkvQuant.Quantization;

namespace RwkvQuant.Pipeline;

/// <summary>
/// Builds a <see cref="HybridQuantizer"/> step by step; each step checks its argument when it is added, and
/// <see cref="Build"/> checks that the pipeline is complete. Required: <see cref="UseScalar"/> and
/// <see cref="UseVector"/>. Optional: the selector (<see cref="UseSelector"/> or <see cref="UseProxy"/>; default the
/// coarse-to-fine proxy with the published RWKV-7 thresholds) and <see cref="UseCodebookOptimizer"/> (without it the
/// multiplication vectors stay in FP32), and per-tensor quantizers (<see cref="UseScalarFor"/>,
/// <see cref="UseVectorFor"/>: a tensor the selector sends to that branch uses its own quantizer, e.g. other group
/// sizes to meet a bit budget), per-tensor choices that override the selector (<see cref="PinScalar"/>,
/// <see cref="PinVector"/>) and block matrices left unquantized (<see cref="Keep"/>). Each part is set at most once. A builder builds once: any call after
/// <see cref="Build"/> throws <see cref="InvalidOperationException"/>. Not thread-safe.
/// </summary>
public sealed class HybridQuantizerBuilder
{
    private IQuantizationSelector? _selector;
    private IScalarQuantizer? _scalar;
    private IVectorQuantizer? _vector;
    private ICodebookOptimizer? _codebooks;
    private readonly Dictionary<string, IScalarQuantizer> _scalarFor = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IVectorQuantizer> _vectorFor = new(StringComparer.Ordinal);
    private readonly Dictionary<string, QuantizationChoice> _pinned = new(StringComparer.Ordinal);
    private readonly HashSet<string> _kept = new(StringComparer.Ordinal);
    private IScalarQuantizer? _embedding, _head;
    private TensorDataType _embeddingType = TensorDataType.F16;
    private bool _built;

    internal HybridQuantizerBuilder()
    {
    }

    /// <summary>Chooses SQ or VQ per matrix with <paramref name="selector"/> (e.g. a <see cref="ThresholdSelector"/> or
    /// an <see cref="OracleSelector"/>).</summary>
    /// <exception cref="ArgumentNullException">Null.</exception>
    /// <exception cref="InvalidOperationException">A selector is already set, or the builder has built.</exception>
    public HybridQuantizerBuilder UseSelector(IQuantizationSelector selector)
    {
        EnsureOpen();
        ArgumentNullException.ThrowIfNull(selector);
        if (_selector is not null)
            throw new InvalidOperationException($"A selector is already set ({_selector.Name}).");
        _selector = selector;
        return this;
    }

    /// <summary>Chooses SQ or VQ per matrix by <paramref name="proxy"/> and <paramref name="thresholds"/> (a <see cref="ThresholdSelector"/>).</summary>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="InvalidOperationException">A selector is already set, or the builder has built.</exception>
    public HybridQuantizerBuilder UseProxy(IProxy proxy, ProxyThresholds thresholds)
    {
        EnsureOpen();
        ArgumentNullException.ThrowIfNull(proxy);
        ArgumentNullException.ThrowIfNull(thresholds);
        return UseSelector(new ThresholdSelector(proxy, thresholds));
    }

    /// <summary>The scalar quantizer (SQ branch), e.g. GPTQ 3-bit g64.</summary>
    /// <exception cref="ArgumentNullException">Null.</exception>
    /// <exception cref="InvalidOperationException">Already set, or the builder has built.</exception>
    public HybridQuantizerBuilder UseScalar(IScalarQuantizer quantizer)
    {
        EnsureOpen();
        ArgumentNullException.ThrowIfNull(quantizer);
        if (_scalar is not null)
            throw new InvalidOperationException($"A scalar quantizer is already set ({_scalar.Name}).");
        _scalar = quantizer;
        return this;
    }

    /// <summary>The vector quantizer (VQ branch), e.g. GPTVQ d1 b3.</summary>
    /// <exception cref="ArgumentNullException">Null.</exception>
    /// <exception cref="InvalidOperationException">Already set, or the builder has built.</exception>
    public HybridQuantizerBuilder UseVector(IVectorQuantizer quantizer)
    {
        EnsureOpen();
        ArgumentNullException.ThrowIfNull(quantizer);
        if (_vector is not null)
            throw new InvalidOperationException($"A vector quantizer is already set ({_vector.Name}).");
        _vector = quantizer;
        return this;
    }

    /// <summary>The codebook optimizer for the element-wise multiplication vectors (weighted by the calibration's
    /// channel importances). Without one, those vectors stay in FP32.</summary>
    /// <exception cref="ArgumentNullException">Null.</exception>
    /// <exception cref="InvalidOperationException">Already set, or the builder has built.</exception>
    public HybridQuantizerBuilder UseCodebookOptimizer(ICodebookOptimizer optimizer)
    {
        EnsureOpen();
        ArgumentNullException.ThrowIfNull(optimizer);
        if (_codebooks is not null)
            throw new InvalidOperationException($"A codebook optimizer is already set ({_codebooks.Name}).");
        _codebooks = optimizer;
        return this;
    }

    /// <summary>The SQ quantizer of one tensor (by canonical name), when the selector sends it to SQ.</summary>
    /// <exception cref="ArgumentNullException">Null.</exception>
    /// <exception cref="InvalidOperationException">That tensor already has one, or the builder has built.</exception>
    public HybridQuantizerBuilder UseScalarFor(string tensorName, IScalarQuantizer quantizer)
    {
        EnsureOpen();
        ArgumentException.ThrowIfNullOrEmpty(tensorName);
        ArgumentNullException.ThrowIfNull(quantizer);
        if (!_scalarFor.TryAdd(tensorName, quantizer))
            throw new InvalidOperationException($"Tensor '{tensorName}' already has a scalar quantizer ({_scalarFor[tensorName].Name}).");
        return this;
    }

    /// <summary>The VQ quantizer of one tensor (by canonical name), when the selector sends it to VQ.</summary>
    /// <exception cref="ArgumentNullException">Null.</exception>
    /// <exception cref="InvalidOperationException">That tensor already has one, or the builder has built.</exception>
    public HybridQuantizerBuilder UseVectorFor(string tensorName, IVectorQuantizer quantizer)
    {
        EnsureOpen();
        ArgumentException.ThrowIfNullOrEmpty(tensorName);
        ArgumentNullException.ThrowIfNull(quantizer);
        if (!_vectorFor.TryAdd(tensorName, quantizer))
            throw new InvalidOperationException($"Tensor '{tensorName}' already has a vector quantizer ({_vectorFor[tensorName].Name}).");
        return this;
    }

    /// <summary>
    /// Sends one tensor (by canonical name) to SQ whatever the selector says, with <paramref name="quantizer"/> (or the
    /// pipeline's scalar quantizer when null): a per-tensor override such as <c>--tensor-type 'blocks.*.ffn.value.weight=q4_k'</c>.
    /// </summary>
    /// <exception cref="InvalidOperationException">That tensor is already pinned, kept or has a scalar quantizer; or the builder has built.</exception>
    public HybridQuantizerBuilder PinScalar(string tensorName, IScalarQuantizer? quantizer = null)
    {
        Pin(tensorName, QuantizationChoice.Scalar);
        return quantizer is null ? this : UseScalarFor(tensorName, quantizer);
    }

    /// <summary>Sends one tensor to VQ whatever the selector says, with <paramref name="quantizer"/> (or the pipeline's vector quantizer when null).</summary>
    /// <exception cref="InvalidOperationException">That tensor is already pinned, kept or has a vector quantizer; or the builder has built.</exception>
    public HybridQuantizerBuilder PinVector(string tensorName, IVectorQuantizer? quantizer = null)
    {
        Pin(tensorName, QuantizationChoice.Vector);
        return quantizer is null ? this : UseVectorFor(tensorName, quantizer);
    }

    /// <summary>
    /// Leaves one block matrix (by canonical name) unquantized: it is stored in F32 as the model holds it, and the
    /// following blocks are calibrated with it as it is (llama-quantize's <c>--exclude-weights</c>).
    /// </summary>
    /// <exception cref="InvalidOperationException">That tensor is already kept or pinned, or the builder has built.</exception>
    public HybridQuantizerBuilder Keep(string tensorName)
    {
        EnsureOpen();
        ArgumentException.ThrowIfNullOrEmpty(tensorName);
        if (_pinned.ContainsKey(tensorName) || !_kept.Add(tensorName))
            throw new InvalidOperationException($"Tensor '{tensorName}' is already {(_kept.Contains(tensorName) ? "kept" : "pinned to a quantizer")}.");
        return this;
    }

    /// <summary>
    /// Quantizes the embedding <c>emb.weight</c> <c>[V, C]</c> with <paramref name="quantizer"/>, from its weights alone
    /// (llama-quantize's <c>--token-embedding-type</c>); by default it is kept in FP16.
    /// </summary>
    /// <exception cref="ArgumentException">The quantizer needs a Hessian (GPTQ, importance-weighted k-quants): the
    /// embedding has no calibration inputs.</exception>
    /// <exception cref="InvalidOperationException">Already set, or the builder has built.</exception>
    public HybridQuantizerBuilder UseForEmbedding(IScalarQuantizer quantizer)
    {
        EnsureOpen();
        _embedding = OutsideBlocks(quantizer, _embedding, "embedding");
        return this;
    }

    /// <summary>Quantizes the head <c>head.weight</c> <c>[V, C]</c> with <paramref name="quantizer"/>, from its weights
    /// alone (llama-quantize's <c>--output-tensor-type</c>); by default it is kept in FP16.</summary>
    /// <exception cref="ArgumentException">The quantizer needs a Hessian.</exception>
    /// <exception cref="InvalidOperationException">Already set, or the builder has built.</exception>
    public HybridQuantizerBuilder UseForHead(IScalarQuantizer quantizer)
    {
        EnsureOpen();
        _head = OutsideBlocks(quantizer, _head, "head");
        return this;
    }

    /// <summary>The type the embedding and head are kept in when not quantized: F16 (default), BF16 or F32.</summary>
    /// <exception cref="ArgumentException">Another type.</exception>
    public HybridQuantizerBuilder KeepEmbeddingAndHeadAs(TensorDataType type)
    {
        EnsureOpen();
        if (type is not (TensorDataType.F16 or TensorDataType.BF16 or TensorDataType.F32))
            throw new ArgumentException($"The embedding and head are kept as F16, BF16 or F32, not {type}.", nameof(type));
        _embeddingType = type;
        return this;
    }

    private static IScalarQuantizer OutsideBlocks(IScalarQuantizer quantizer, IScalarQuantizer? existing, string what)
    {
        ArgumentNullException.ThrowIfNull(quantizer);
        if (existing is not null)
            throw new InvalidOperationException($"The {what} already has a quantizer ({existing.Name}).");
        if (quantizer.RequiresHessian)
            throw new ArgumentException($"{quantizer.Name} needs a Hessian, and the {what} is quantized from its weights alone: choose RTN, a ggml format " +
                $"or a k-quant without importances.", nameof(quantizer));
        return quantizer;
    }

    private void Pin(string tensorName, QuantizationChoice choice)
    {
        EnsureOpen();
        ArgumentException.ThrowIfNullOrEmpty(tensorName);
        if (_kept.Contains(tensorName) || !_pinned.TryAdd(tensorName, choice))
            throw new InvalidOperationException($"Tensor '{tensorName}' is already {(_kept.Contains(tensorName) ? "kept" : "pinned to a quantizer")}.");
    }

    /// <summary>The immutable pipeline.</summary>
    /// <exception cref="InvalidOperationException">The scalar or vector quantizer is missing, or the builder has built.</exception>
    public HybridQuantizer Build()
    {
        EnsureOpen();
        if (_scalar is null)
            throw new InvalidOperationException("The hybrid quantizer needs a scalar quantizer: call UseScalar.");
        if (_vector is null)
            throw new InvalidOperationException("The hybrid quantizer needs a vector quantizer: call UseVector.");
        _built = true;
        return new HybridQuantizer(_selector ?? new ThresholdSelector(new CoarseToFineProxy(), ProxyThresholds.PublishedRwkv7), _scalar, _vector, _codebooks,
            _scalarFor.ToDictionary(StringComparer.Ordinal), _vectorFor.ToDictionary(StringComparer.Ordinal),
            _pinned.ToDictionary(StringComparer.Ordinal), _kept.ToHashSet(StringComparer.Ordinal), _embedding, _head, _embeddingType);
    }

    private void EnsureOpen()
    {
        if (_built)
            throw new InvalidOperationException("This builder has already built a HybridQuantizer; create a new builder with HybridQuantizer.CreateBuilder().");
    }
}
