using System.Runtime;
using RwkvQuant.Formats;
using RwkvQuant.Formats.Safetensors;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;

namespace RwkvQuant.Inference;

/// <summary>
/// Recurrent-mode RWKV inference (v6 and v7) on plain float arrays, straight from a <see cref="QuantizedModel"/>'s
/// stored tensors: every matrix product reads the packed codes, scales and codebooks of a quantized weight (the
/// full-precision matrix of a quantized weight is never built) or the kept FP16/FP32 bytes of a kept one. Built from a
/// float32 <see cref="RwkvModel"/> it is the full-precision reference of the same code. The logits equal those of the
/// TorchSharp network run on the dequantized model, to float rounding.
/// </summary>
/// <remarks>
/// Small tensors are decoded once at construction: the codebook-quantized multiplication vectors (C floats each)
/// and the other vectors, the VQ codebooks, and kept LoRA matrices stored <c>[in, out]</c> (transposed to float32).
/// <see cref="WeightBytesPerToken"/> counts what one token reads: every matrix's stored bytes (packed for quantized
/// tensors), one embedding row, and every vector as the float32 it is read as.
/// </remarks>
public sealed class RwkvEngine
{
    private readonly RecurrentNetwork _network;

    private RwkvEngine(EngineWeights weights)
    {
        _network = weights.Config.Version switch
        {
            RwkvVersion.V6 => new Rwkv6Recurrence(weights),
            RwkvVersion.V7 => new Rwkv7Recurrence(weights),
            _ => throw new NotSupportedException($"The inference engine runs RWKV v6 and v7; this model is {weights.Config.Version}."),
        };
        WeightBytesPerToken = weights.BytesPerToken;
        QuantizedWeightBytesPerToken = weights.QuantizedBytesPerToken;
    }

    /// <summary>An engine over a quantized model's stored tensors.</summary>
    /// <exception cref="NotSupportedException">The version is not v6 or v7, or a tensor's scheme has no product.</exception>
    /// <exception cref="InvalidDataException">A tensor is missing or has the wrong shape (the message names it).</exception>
    public static RwkvEngine Create(QuantizedModel model) => Create(model, FusedMatrixVectorProducts.Default);

    /// <summary>A full-precision engine over a float32 model (the source of a quantized model, for comparison).</summary>
    /// <exception cref="NotSupportedException">The version is not v6 or v7.</exception>
    /// <exception cref="InvalidDataException">A tensor is missing or has the wrong shape (the message names it).</exception>
    public static RwkvEngine Create(RwkvModel model) => Create(model, FusedMatrixVectorProducts.Default);

    /// <summary>
    /// An engine over the model in <paramref name="path"/>. A <c>.rwkvq</c> file is read tensor by tensor: each quantized
    /// tensor is decoded from the file, re-laid for its product and let go, so loading holds the engine's packed weights
    /// and one tensor in flight — not the decoded model beside them, as <see cref="Create(QuantizedModel)"/> over
    /// <see cref="QuantizedModelFile.Load"/> does. Every part of the file is checked as <see cref="QuantizedModelFile.Load"/>
    /// checks it, and the file is closed before this returns. Any other model file is loaded as the float32 model.
    /// </summary>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid model file, or a tensor is missing or has the wrong
    /// shape (the message names the file and the tensor).</exception>
    /// <exception cref="NotSupportedException">The version is not v6 or v7, or a tensor's scheme has no product.</exception>
    public static RwkvEngine Load(string path) => Load(path, FusedMatrixVectorProducts.Default);

    /// <summary>
    /// The float32 engine of the model in <paramref name="path"/> dequantized: what <see cref="Load(string)"/> runs from
    /// packed weights, run from float32 matrices — the reference a quantized model's speed and logits are compared with.
    /// A <c>.rwkvq</c> file is read and dequantized tensor by tensor, so loading holds the float32 weights and one tensor
    /// in flight, not also the quantized and the dequantized model. Any other model file is loaded as the float32 model.
    /// </summary>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid model file, or a tensor is missing or has the wrong
    /// shape (the message names the file and the tensor).</exception>
    /// <exception cref="NotSupportedException">The version is not v6 or v7.</exception>
    public static RwkvEngine LoadDequantized(string path) => Load(path, FusedMatrixVectorProducts.Default, dequantize: true);

    /// <summary>As <see cref="Load(string)"/> (or <see cref="LoadDequantized"/>), with the matrix-vector products of <paramref name="products"/>.</summary>
    internal static RwkvEngine Load(string path, IMatrixVectorProductFactory products, bool dequantize = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(products);
        if (!File.Exists(path))
            throw new FileNotFoundException($"Model file '{path}' does not exist.", path);
        if (RwkvModelFile.DetectFormat(path) == ModelFileFormat.Safetensors)
        {
            using OpenModelFile file = OpenModelFile.Open(path);
            SafetensorsFile container = SafetensorsReader.Open(file);
            if (QuantizedModelFile.IsQuantizedModel(container))
            {
                QuantizedModelContents contents = QuantizedModelFile.ReadContents(container, path);
                if (contents.Config.Version is not (RwkvVersion.V6 or RwkvVersion.V7))
                    throw new NotSupportedException($"The inference engine runs RWKV v6 and v7; '{path}' is {contents.Config.Version}.");
                var engine = new RwkvEngine(EngineWeights.From(contents, products, dequantize));
                contents.CheckComplete(); // the tensors the engine did not ask for, and stray parts
                // The decoded tensors left holes between the engine's arrays (126 MB at 1.5B): one compacting
                // collection closes them, so the process holds the packed weights and little else.
                GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
                return engine;
            }
        }
        return Create(RwkvModelFile.Load(path), products);
    }

    /// <summary>As <see cref="Create(QuantizedModel)"/>, with the matrix-vector products of <paramref name="products"/>.</summary>
    internal static RwkvEngine Create(QuantizedModel model, IMatrixVectorProductFactory products)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(products);
        return new RwkvEngine(EngineWeights.From(model, products));
    }

    /// <summary>As <see cref="Create(RwkvModel)"/>, with the matrix-vector products of <paramref name="products"/>.</summary>
    internal static RwkvEngine Create(RwkvModel model, IMatrixVectorProductFactory products)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(products);
        return new RwkvEngine(EngineWeights.From(model, products));
    }

    /// <summary>The architecture.</summary>
    public RwkvConfig Config => _network.Config;

    /// <summary>
    /// Bytes of weights one token reads: the stored bytes of every matrix (packed codes, scales, zeros, codebooks for a
    /// quantized one; elements × element size for a kept one, e.g. the FP16 head), one row of the embedding, and
    /// 4 bytes per element of every vector.
    /// </summary>
    public long WeightBytesPerToken { get; }

    /// <summary>The part of <see cref="WeightBytesPerToken"/> read from quantized matrices (packed storage).</summary>
    public long QuantizedWeightBytesPerToken { get; }

    /// <summary>A zero state for one sequence (it also holds the step's working buffers).</summary>
    public RwkvEngineState CreateState() => new(this, Config, _network.CreateScratch(1));

    /// <summary>Feeds <paramref name="token"/>, advancing <paramref name="state"/>; returns the next-token logits <c>[V]</c>.</summary>
    /// <exception cref="ArgumentException">The token is outside the vocabulary or the state belongs to another engine.</exception>
    public float[] Step(int token, RwkvEngineState state)
    {
        var logits = new float[Config.VocabularySize];
        Step(token, state, logits);
        return logits;
    }

    /// <summary>As <see cref="Step(int, RwkvEngineState)"/>, writing the logits into <paramref name="logits"/> <c>[V]</c>.</summary>
    /// <exception cref="ArgumentException">The token is outside the vocabulary, the state belongs to another engine, or
    /// <paramref name="logits"/> does not hold V values.</exception>
    public void Step(int token, RwkvEngineState state, Span<float> logits)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (!ReferenceEquals(state.Owner, this))
            throw new ArgumentException("The state was created by another engine.", nameof(state));
        if ((uint)token >= (uint)Config.VocabularySize)
            throw new ArgumentException($"Token {token} is outside the vocabulary of {Config.VocabularySize}.", nameof(token));
        if (logits.Length != Config.VocabularySize)
            throw new ArgumentException($"The logits hold {Config.VocabularySize} values; the span holds {logits.Length}.", nameof(logits));
        _network.Run([token], state, logits);
        state.Position++;
    }

    /// <summary>
    /// Tokens a prefill runs at once: each matrix is read once per run and multiplies every token of it (the kernels take
    /// up to 8 vectors per pass over the weights), while the run's activations stay small (about 90 floats per channel).
    /// </summary>
    public const int PrefillRunLength = 32;

    /// <summary>
    /// Feeds <paramref name="tokens"/> (a prompt) and returns the logits after the last one. The result and the state are
    /// those of one <see cref="Step(int, RwkvEngineState)"/> per token (to float rounding), computed faster: the tokens go
    /// through the network in runs of <see cref="PrefillRunLength"/>, each matrix multiplying a whole run at once, and
    /// only the last token goes through the head.
    /// </summary>
    /// <exception cref="ArgumentException">No tokens, a token outside the vocabulary, or a state of another engine.</exception>
    /// <exception cref="OperationCanceledException">Cancelled (checked between runs); the state is then part-way through
    /// the prompt, at <see cref="RwkvEngineState.Position"/>.</exception>
    public float[] Prefill(IReadOnlyList<int> tokens, RwkvEngineState state, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(state);
        if (tokens.Count == 0)
            throw new ArgumentException("Prefill needs at least one token.", nameof(tokens));
        if (!ReferenceEquals(state.Owner, this))
            throw new ArgumentException("The state was created by another engine.", nameof(state));
        int[] all = tokens.ToArray();
        for (int i = 0; i < all.Length; i++)
        {
            if ((uint)all[i] >= (uint)Config.VocabularySize)
                throw new ArgumentException($"Token {all[i]} (position {i} of the prompt) is outside the vocabulary of {Config.VocabularySize}.", nameof(tokens));
        }
        var logits = new float[Config.VocabularySize];
        for (int start = 0; start < all.Length; start += PrefillRunLength)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int length = Math.Min(PrefillRunLength, all.Length - start);
            _network.Run(all.AsSpan(start, length), state, logits);
            state.Position += length;
        }
        return logits;
    }
}
