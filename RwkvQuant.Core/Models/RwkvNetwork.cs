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
    internal Tensor ForwardObserved(Tensor tokens, RwkvState? state, INetworkObserver? observer)
    {
        if (observer is null)
            return ForwardCore(tokens, state);
        lock (_observerLock)
        {
            if (_observer is not null)
                throw new InvalidOperationException("An observed forward pass is already running on this network.");
            _observerThread = Environment.CurrentManagedThreadId; // before the volatile write that publishes it
            _observer = observer;
        }
        try
        {
            return ForwardCore(tokens, state);
        }
        finally
        {
            lock (_observerLock)
                _observer = null;
        }
    }

    /// <summary>
    /// The observer of the forward pass running on the current thread, or null (the usual case, which costs the
    /// versions one null test per site). Versions report through it with <c>Observer?.OnLinearInput(…)</c>, so the
    /// name strings are only built when someone listens.
    /// </summary>
    private protected INetworkObserver? Observer
    {
        get
        {
            INetworkObserver? observer = _observer;
            return observer is not null && _observerThread == Environment.CurrentManagedThreadId ? observer : null;
        }
    }

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
    /// The version's forward pass: int64 tokens <c>[B, T]</c> → logits <c>[B, T, V]</c>, advancing
    /// <paramref name="state"/> (whose batch size and layer count match). Called inside a dispose scope with
    /// gradients off; the returned tensor is moved out by the caller.
    /// </summary>
    protected abstract Tensor Run(Tensor tokens, RwkvState state);

    /// <summary>Releases the network's tensors.</summary>
    protected abstract void Dispose(bool disposing);

    /// <inheritdoc />
    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }
}
