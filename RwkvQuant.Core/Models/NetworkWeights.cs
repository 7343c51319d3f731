using RwkvQuant.Formats;
using static TorchSharp.torch;

namespace RwkvQuant.Models;

/// <summary>The embedding with <c>ln0</c>, or <c>ln_out</c> with the head: a <c>[V, C]</c> matrix and a layer norm.</summary>
internal sealed record EndWeights(Tensor Matrix, Tensor NormWeight, Tensor NormBias);

/// <summary>
/// The float32 torch copies of a model's tensors that a network runs on, each part made the first time it runs: the
/// embedding with <c>ln0</c> (<see cref="Input"/>), each block (<see cref="Layer"/>), the head with <c>ln_out</c>
/// (<see cref="Output"/>). A network that runs one block therefore holds one block in float32 beside the model's
/// stored tensors, which is what lets sequential calibration run a model far larger than its float32 copy. Thread-safe;
/// disposing releases every part made.
/// </summary>
internal sealed class NetworkWeights<TLayer> : IDisposable where TLayer : class
{
    private readonly RwkvModel _model;
    private readonly Lazy<EndWeights> _input, _output;
    private readonly Lazy<TLayer>[] _layers;
    private readonly List<Tensor> _owned = [];

    /// <summary>Parts of <paramref name="model"/>; <paramref name="loadLayer"/> makes block i (through <see cref="Load"/>,
    /// or owning its tensors itself and being <see cref="IDisposable"/>).</summary>
    public NetworkWeights(RwkvModel model, Func<int, TLayer> loadLayer)
    {
        _model = model;
        int c = model.Config.EmbeddingSize, v = model.Config.VocabularySize;
        _input = new(() => new EndWeights(Load("emb.weight", v, c), Load("blocks.0.ln0.weight", c), Load("blocks.0.ln0.bias", c)));
        _output = new(() => new EndWeights(Load("head.weight", v, c), Load("ln_out.weight", c), Load("ln_out.bias", c)));
        _layers = [.. Enumerable.Range(0, model.Config.LayerCount).Select(i => new Lazy<TLayer>(() => loadLayer(i)))];
    }

    /// <summary>The embedding and <c>ln0</c>.</summary>
    public EndWeights Input => _input.Value;

    /// <summary>The head and <c>ln_out</c>.</summary>
    public EndWeights Output => _output.Value;

    /// <summary>Block <paramref name="index"/>'s weights.</summary>
    public TLayer Layer(int index) => _layers[index].Value;

    /// <summary>A float32 torch copy of the tensor <paramref name="name"/>, shaped <paramref name="shape"/> (its own
    /// shape when empty; the networks give every shape, so that a stored shape with extra dimensions of size 1 never
    /// reaches a native call), owned by this object and detached from any dispose scope.</summary>
    /// <exception cref="InvalidDataException">The tensor's element count does not match <paramref name="shape"/> (the
    /// message names the file and the tensor).</exception>
    public Tensor Load(string name, params long[] shape)
    {
        TensorData data = _model[name];
        if (shape.Length > 0 && data.ElementCount != shape.Aggregate(1L, (a, b) => a * b))
        {
            throw ModelFileError.Create(_model.SourcePath ?? "(in memory)", name,
                $"expected shape [{string.Join(", ", shape)}], found shape [{string.Join(", ", data.Shape)}].");
        }
        Tensor tensor = RwkvOps.ToTorch(data, shape);
        lock (_owned)
            _owned.Add(tensor);
        return tensor;
    }

    /// <summary>
    /// A matrix of <paramref name="rows"/> rows and as many columns as the tensor holds (a LoRA input matrix, whose inner
    /// size only the tensor tells; <see cref="RwkvModelSchema"/> has checked its shape), as <see cref="Load"/>.
    /// </summary>
    public Tensor LoadRows(string name, long rows) => Load(name, rows, _model[name].ElementCount / rows);

    /// <summary>A matrix of <paramref name="columns"/> columns and as many rows as the tensor holds (a LoRA output
    /// matrix), as <see cref="Load"/>.</summary>
    public Tensor LoadColumns(string name, long columns) => Load(name, _model[name].ElementCount / columns, columns);

    /// <summary>Values of the tensor <paramref name="name"/>.</summary>
    public long ElementCount(string name) => _model[name].ElementCount;

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (Lazy<TLayer> layer in _layers)
        {
            if (layer.IsValueCreated && layer.Value is IDisposable disposable)
                disposable.Dispose();
        }
        lock (_owned)
        {
            foreach (Tensor tensor in _owned)
                tensor.Dispose();
            _owned.Clear();
        }
    }
}
