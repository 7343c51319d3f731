using TorchSharp;
using static TorchSharp.torch;

namespace RwkvQuant.Models;

/// <summary>
/// A runnable RWKV network (float32, TorchSharp, CPU) built from an <see cref="RwkvModel"/>. Two modes:
/// sequence mode (<see cref="Forward"/>: a batch of token sequences at once, for calibration and perplexity)
/// and recurrent mode (<see cref="ForwardStep"/>: one token per sequence with a carried state, for generation).
/// Both compute the same function: feeding a sequence in one call or token by token gives the same logits.
/// </summary>
public abstract class RwkvNetwork : IDisposable
{
    /// <summary>Creates the network for the model's version. The model's tensors are copied into torch tensors.</summary>
    public static RwkvNetwork Create(RwkvModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.Config.Version switch
        {
            RwkvVersion.V4 => new Rwkv4Network(model),
            RwkvVersion.V5_1 or RwkvVersion.V5_2 => new Rwkv5Network(model),
            RwkvVersion.V6 => new Rwkv6Network(model),
            RwkvVersion.V7 => new Rwkv7Network(model),
            _ => throw new NotSupportedException($"RWKV version {model.Config.Version} has no forward pass yet."),
        };
    }

    private readonly Lock _observerLock = new();
    private volatile INetworkObserver? _observer;
    private int _observerThread;

    /// <summary>Base constructor.</summary>
    protected RwkvNetwork(RwkvConfig config) => Config = config;

    /// <summary>The architecture.</summary>
    public RwkvConfig Config { get; }

    /// <summary>A zero state for <paramref name="batchSize"/> sequences (the "empty state" of rwkv.cpp).</summary>
    public abstract RwkvState CreateState(int batchSize = 1);

    /// <summary>
    /// Sequence mode. <paramref name="tokens"/>: int64 <c>[B, T]</c> with B, T ≥ 1. Returns float32 logits
    /// <c>[B, T, V]</c> (a fresh tensor the caller owns). When <paramref name="state"/> is given it is read as the
    /// state before the first token and advanced to the state after the last; otherwise the sequences start from
    /// zero state.
    /// </summary>
    /// <exception cref="ArgumentException">The tokens are not <c>[B, T]</c>, or the state is for another batch size or model.</exception>
    public Tensor Forward(Tensor tokens, RwkvState? state = null)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        return ForwardCore(tokens, state);
    }

    /// <summary>
    /// <see cref="Forward(Tensor, RwkvState?)"/> that also reports every linear projection's input and every
    /// element-wise multiplication site's operand to <paramref name="observer"/> (calibration). The logits are the
    /// same as without an observer. Only the calling thread's forward pass is observed.
    /// </summary>
    /// <exception cref="InvalidOperationException">Another observed forward pass is running on this network.</exception>
    internal Tensor ForwardObserved(Tensor tokens, RwkvState? state, INetworkObserver? observer) =>
        Observed(observer, () => ForwardCore(tokens, state));

    /// <summary>Runs <paramref name="pass"/> with <paramref name="observer"/> listening on the calling thread.</summary>
    private Tensor Observed(INetworkObserver? observer, Func<Tensor> pass)
    {
        if (observer is null)
            return pass();
        lock (_observerLock)
        {
            if (_observer is not null)
                throw new InvalidOperationException("An observed forward pass is already running on this network.");
            _observerThread = Environment.CurrentManagedThreadId; // before the volatile write that publishes it
            _observer = observer;
        }
        try
        {
            return pass();
        }
        finally
        {
            lock (_observerLock)
                _observer = null;
        }
    }

    /// <summary>
    /// The observer of the forward pass running on the current thread, or null (the usual case, which costs the
    /// versions one null test per site). Versions report through <see cref="Observe"/>'s operations, which build the
    /// name strings only when someone listens.
    /// </summary>
    private protected INetworkObserver? Observer
    {
        get
        {
            INetworkObserver? observer = _observer;
            return observer is not null && _observerThread == Environment.CurrentManagedThreadId ? observer : null;
        }
    }

    /// <summary>The observed operations of the block whose weights are named <paramref name="prefix"/>… (<c>""</c> for
    /// the head).</summary>
    private protected ObservedOps Observe(string prefix) => new(Observer, prefix);

    private Tensor ForwardCore(Tensor tokens, RwkvState? state)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (tokens.dim() != 2 || tokens.shape[0] < 1 || tokens.shape[1] < 1)
            throw new ArgumentException($"Expected tokens [B, T] with B, T >= 1, got [{string.Join(", ", tokens.shape)}].", nameof(tokens));
        long batch = tokens.shape[0];
        if (state is not null && (state.BatchSize != batch || state.LayerCount != Config.LayerCount))
            throw new ArgumentException($"The state holds {state.BatchSize} sequences of {state.LayerCount} layers; the tokens have {batch} sequences for {Config.LayerCount} layers.", nameof(state));

        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        RwkvState current = state ?? CreateState(checked((int)batch));
        try
        {
            return Run(tokens.to(ScalarType.Int64), current).MoveToOuterDisposeScope();
        }
        finally
        {
            if (state is null)
                current.Dispose();
        }
    }

    /// <summary>
    /// Recurrent mode. <paramref name="tokens"/>: int64 <c>[B]</c>, one token per sequence. Returns float32
    /// logits <c>[B, V]</c> and advances <paramref name="state"/> by one token.
    /// </summary>
    /// <exception cref="ArgumentException">The tokens are not <c>[B]</c>, or the state is for another batch size or model.</exception>
    public Tensor ForwardStep(Tensor tokens, RwkvState state)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(state);
        if (tokens.dim() != 1)
            throw new ArgumentException($"Expected tokens of shape [B], got [{string.Join(", ", tokens.shape)}].", nameof(tokens));
        using var scope = torch.NewDisposeScope();
        return Forward(tokens.unsqueeze(1), state).squeeze(1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The forward pass: int64 tokens <c>[B, T]</c> → logits <c>[B, T, V]</c>, advancing <paramref name="state"/>
    /// (whose batch size and layer count match): <see cref="Embed"/>, each block in turn through
    /// <see cref="RunBlock"/>, then <see cref="Head"/>. Called inside a dispose scope with gradients off; the returned
    /// tensor is moved out by the caller.
    /// </summary>
    private Tensor Run(Tensor tokens, RwkvState state)
    {
        Tensor x = Embed(tokens);
        var carry = new BlockCarry();
        for (int block = 0; block < Config.LayerCount; block++)
            x = RunBlock(block, x, state, carry);
        return Head(x);
    }

    /// <summary>The input of the first block, <c>[B, T, C]</c>, for int64 tokens <c>[B, T]</c> (embedding and <c>ln0</c>).</summary>
    private protected abstract Tensor Embed(Tensor tokens);

    /// <summary>
    /// Block <paramref name="block"/> over its input x <c>[B, T, C]</c>: returns the block's output (the next block's
    /// input), moved to the caller's dispose scope, and advances the block's slots of <paramref name="state"/>.
    /// <paramref name="carry"/> holds what a block hands to later blocks of the same pass (RWKV-7's v of block 0).
    /// </summary>
    private protected abstract Tensor RunBlock(int block, Tensor x, RwkvState state, BlockCarry carry);

    /// <summary>The logits <c>[B, T, V]</c> from the last block's output (<c>ln_out</c> and the head).</summary>
    private protected abstract Tensor Head(Tensor x);

    /// <summary>
    /// The input of block 0 for <paramref name="tokens"/> <c>[B, T]</c> (a fresh tensor the caller owns), for running
    /// the blocks one at a time (sequential calibration).
    /// </summary>
    internal Tensor EmbedTokens(Tensor tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        return Embed(tokens.to(ScalarType.Int64)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Block <paramref name="block"/> alone over its input <paramref name="x"/> <c>[B, T, C]</c> from zero state,
    /// reporting its linear inputs and multiplication operands to <paramref name="observer"/> when given. Returns the
    /// block's output (a fresh tensor the caller owns); <paramref name="carry"/> is read and updated as in a full
    /// pass (run the blocks in order with one carry per batch).
    /// </summary>
    internal Tensor RunBlockAlone(int block, Tensor x, BlockCarry carry, INetworkObserver? observer)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(carry);
        ArgumentOutOfRangeException.ThrowIfNegative(block);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(block, Config.LayerCount);
        if (x.dim() != 3 || x.shape[2] != Config.EmbeddingSize)
            throw new ArgumentException($"Expected a block input [B, T, {Config.EmbeddingSize}], got [{string.Join(", ", x.shape)}].", nameof(x));
        return Observed(observer, () =>
        {
            using var scope = torch.NewDisposeScope();
            using var noGrad = torch.no_grad();
            using RwkvState state = CreateState(checked((int)x.shape[0]));
            Tensor? valueFirst = carry.ValueFirst;
            Tensor output = RunBlock(block, x, state, carry).MoveToOuterDisposeScope();
            if (carry.ValueFirst is { } made && !ReferenceEquals(made, valueFirst))
                made.MoveToOuterDisposeScope(); // the caller owns what this block handed on
            return output;
        });
    }

    /// <summary>Releases the network's tensors.</summary>
    protected abstract void Dispose(bool disposing);

    /// <inheritdoc />
    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }
}
