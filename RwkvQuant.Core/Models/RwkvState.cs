using TorchSharp;
using static TorchSharp.torch;

namespace RwkvQuant.Models;

/// <summary>
/// The recurrent state of an RWKV network for a batch of sequences: per layer, the token-shift vectors of the
/// time-mix and channel-mix blocks and the time-mix state (WKV). Created by
/// <see cref="RwkvNetwork.CreateState(int)"/> and advanced in place by the forward pass.
/// </summary>
public sealed class RwkvState : IDisposable
{
    private readonly Tensor[][] _layers;
    private bool _disposed;

    /// <summary>Wraps per-layer tensors (taken; disposed with this state).</summary>
    internal RwkvState(int batchSize, Tensor[][] layers)
    {
        BatchSize = batchSize;
        _layers = layers;
    }

    /// <summary>Number of sequences the state carries.</summary>
    public int BatchSize { get; }

    /// <summary>Number of layers.</summary>
    public int LayerCount => _layers.Length;

    /// <summary>The state tensors of layer <paramref name="layer"/>; their meaning belongs to the network version.</summary>
    internal Tensor[] Layer(int layer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _layers[layer];
    }

    /// <summary>
    /// Replaces one state tensor of a layer, disposing the previous one. The state owns its tensors: the new one is
    /// detached from any dispose scope (moving it to the caller's scope would dispose it when that scope ends).
    /// </summary>
    internal void Set(int layer, int index, Tensor value)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Tensor previous = _layers[layer][index];
        _layers[layer][index] = value.DetachFromDisposeScope();
        if (!ReferenceEquals(previous, value))
            previous.Dispose();
    }

    /// <summary>A deep copy (for branching generation).</summary>
    public RwkvState Clone()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var layers = new Tensor[_layers.Length][];
        for (int i = 0; i < layers.Length; i++)
            layers[i] = _layers[i].Select(t => t.clone().DetachFromDisposeScope()).ToArray();
        return new RwkvState(BatchSize, layers);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        foreach (Tensor[] layer in _layers)
            foreach (Tensor tensor in layer)
                tensor.Dispose();
    }
}
