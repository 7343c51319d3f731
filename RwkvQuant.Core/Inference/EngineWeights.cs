using System.Globalization;
using RwkvQuant.Formats;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Pipeline;
using RwkvQuant.Quantization;

namespace RwkvQuant.Inference;

/// <summary>
/// Where the engine takes its weights from — a <see cref="QuantizedModel"/> (quantized tensors and tensors kept as
/// stored) or a float32 <see cref="RwkvModel"/> — and the count of weight bytes that one token reads, added up as the
/// engine asks for each tensor.
/// </summary>
internal sealed class EngineWeights
{
    private readonly IReadOnlySet<string> _quantizedNames;
    private readonly Func<string, QuantizedTensor> _quantized;
    private readonly Dictionary<string, TensorData> _kept;
    private readonly IMatrixVectorProductFactory _factory;
    private readonly bool _dequantize;
    private readonly string _source;

    private EngineWeights(RwkvConfig config, string? source, IReadOnlySet<string> quantizedNames, Func<string, QuantizedTensor> quantized,
        Dictionary<string, TensorData> kept, IMatrixVectorProductFactory factory, bool dequantize = false)
    {
        _source = source ?? "(in memory)";
        _dequantize = dequantize;
        Config = config;
        _quantizedNames = quantizedNames;
        _quantized = quantized;
        _kept = kept;
        _factory = factory;
    }

    /// <summary>The weights of a quantized model.</summary>
    public static EngineWeights From(QuantizedModel model, IMatrixVectorProductFactory factory)
    {
        var quantized = model.QuantizedTensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        return new(model.Config, model.SourcePath, quantized.Keys.ToHashSet(StringComparer.Ordinal), name => quantized[name],
            model.FullPrecisionTensors.ToDictionary(t => t.Name, StringComparer.Ordinal), factory);
    }

    /// <summary>
    /// The weights of a <c>.rwkvq</c> file's contents: each quantized tensor is decoded from the file when the engine
    /// asks for it and let go once its product is built, so the decoded tensors are never all held at once. With
    /// <paramref name="dequantize"/>, each is dequantized to a float32 matrix instead: the float32 engine of the
    /// dequantized model, built without that model ever existing whole.
    /// </summary>
    public static EngineWeights From(QuantizedModelContents contents, IMatrixVectorProductFactory factory, bool dequantize = false)
    {
        long released = 0;
        QuantizedTensor Decode(string name)
        {
            // The tensor decoded before this one is garbage now (its product holds its own layout). Large arrays are
            // collected only in full collections, which the runtime, seeing a machine with memory to spare, puts off:
            // loading a 1.5B model left 0.5 GB of decoded tensors in the process for good. A full collection after each
            // 64 MB of them keeps the load near the engine's own size (about 20 collections of a heap of plain arrays).
            if (released >= ReleaseBytes)
            {
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: false);
                released = 0;
            }
            QuantizedTensor tensor = contents.Decode(name).Tensor;
            released += (tensor.StoredBits + 7) / 8 + (dequantize ? 8 * tensor.ElementCount : 0); // floats and their bytes
            return tensor;
        }
        return new(contents.Config, contents.Path, contents.QuantizedNames.ToHashSet(StringComparer.Ordinal), Decode,
            contents.FullPrecisionTensors.ToDictionary(t => t.Name, StringComparer.Ordinal), factory, dequantize);
    }

    /// <summary>Bytes of decoded tensors let go between full collections while an engine loads from a file.</summary>
    private const long ReleaseBytes = 64L << 20;

    /// <summary>The weights of a float32 model (every tensor kept).</summary>
    public static EngineWeights From(RwkvModel model, IMatrixVectorProductFactory factory) =>
        new(model.Config, model.SourcePath, new HashSet<string>(StringComparer.Ordinal), name => throw new KeyNotFoundException(name),
            model.Tensors.Values.ToDictionary(t => t.Name, StringComparer.Ordinal), factory);

    /// <summary>The architecture.</summary>
    public RwkvConfig Config { get; }

    /// <summary>Bytes of weights one token reads, over the tensors asked for so far.</summary>
    public long BytesPerToken { get; private set; }

    /// <summary>Bytes of quantized weights one token reads (packed storage), over the tensors asked for so far.</summary>
    public long QuantizedBytesPerToken { get; private set; }

    /// <summary>True when the weights hold a tensor of that name.</summary>
    public bool Contains(string name) => _quantizedNames.Contains(name) || _kept.ContainsKey(name);

    /// <summary>
    /// A vector's <paramref name="length"/> values as float32, whatever its stored shape ([C], [1, 1, C], [H, N]…). A
    /// quantized vector (a codebook-quantized multiplication vector) is decoded here, once: it is C floats, and the
    /// engine reads the float32 copy every token, which is what the byte count says.
    /// </summary>
    public float[] Vector(string name, int length)
    {
        float[] values = _quantizedNames.Contains(name)
            ? _quantized(name).Dequantize()
            : Kept(name).ToFloatArray();
        if (values.Length != length)
            throw ModelFileError.Create(_source, name, $"holds {values.Length} values; the engine needs a vector of {length}.");
        BytesPerToken += 4L * length;
        return values;
    }

    /// <summary>
    /// The product of the <c>[rows, columns]</c> matrix that tensor <paramref name="name"/> holds in
    /// <paramref name="layout"/> (a quantized tensor is that matrix already; a kept LoRA matrix in <c>[in, out]</c>
    /// order is transposed here, once, to float32). A null dimension is taken from the tensor; a given one is checked.
    /// </summary>
    public IMatrixVectorProduct Matrix(string name, LinearLayout layout, int? rows, int? columns, int diagonalBlocks = 1)
    {
        IMatrixVectorProduct product;
        if (_quantizedNames.Contains(name))
        {
            QuantizedTensor quantized = _quantized(name);
            if (_dequantize)
            {
                product = _factory.Create(TensorData.FromFloats(name, [quantized.Rows, quantized.Columns], quantized.Dequantize()));
            }
            else
            {
                product = _factory.Create(quantized);
                QuantizedBytesPerToken += product.WeightBytes;
            }
        }
        else
        {
            TensorData kept = Kept(name);
            (int keptRows, int keptColumns) = MatrixShape(kept, layout);
            TensorData matrix = layout == LinearLayout.OutIn
                ? kept.Reshape([keptRows, keptColumns])
                : new LinearWeight(name, -1, layout, keptRows, keptColumns, diagonalBlocks).ToMatrix(kept);
            product = _factory.Create(_dequantize ? matrix.ToFloat32() : matrix); // the float32 engine reads float32 throughout
        }
        if ((rows is not null && product.Rows != rows) || (columns is not null && product.Columns != columns))
            throw ModelFileError.Create(_source, name, $"is the [{product.Rows}, {product.Columns}] matrix; the engine needs [{rows?.ToString(CultureInfo.InvariantCulture) ?? "any"}, {columns?.ToString(CultureInfo.InvariantCulture) ?? "any"}].");
        BytesPerToken += product.WeightBytes;
        return product;
    }

    /// <summary>
    /// The <c>[out, in]</c> matrix shape a kept tensor holds in <paramref name="layout"/>. Extra dimensions of size 1
    /// (a stored <c>[C, D, 1]</c>) are dropped, as <see cref="RwkvModelSchema"/>, which has checked the shape, ignores
    /// them.
    /// </summary>
    private (int Rows, int Columns) MatrixShape(TensorData tensor, LinearLayout layout)
    {
        int rank = layout == LinearLayout.StackedInOut ? 3 : 2;
        List<long> shape = [.. tensor.Shape];
        while (shape.Count > rank && shape[^1] == 1)
            shape.RemoveAt(shape.Count - 1);
        while (shape.Count > rank && shape[0] == 1)
            shape.RemoveAt(0);
        return layout switch
        {
            LinearLayout.OutIn when shape.Count == 2 => (checked((int)shape[0]), checked((int)shape[1])),
            LinearLayout.InOut when shape.Count == 2 => (checked((int)shape[1]), checked((int)shape[0])),
            LinearLayout.StackedInOut when shape.Count == 3 => (checked((int)shape[2]), checked((int)(shape[0] * shape[1]))),
            _ => throw ModelFileError.Create(_source, tensor.Name, $"has shape [{string.Join(", ", tensor.Shape)}], not the {layout} matrix the engine needs."),
        };
    }

    /// <summary>The embedding <c>[V, C]</c> as rows to look up: one row's share of its bytes counts per token.</summary>
    public IMatrixVectorProduct Embedding(int vocabulary, int width)
    {
        long before = BytesPerToken, quantizedBefore = QuantizedBytesPerToken;
        IMatrixVectorProduct product = Matrix("emb.weight", LinearLayout.OutIn, vocabulary, width);
        BytesPerToken = before + (product.WeightBytes + vocabulary - 1) / vocabulary;
        if (QuantizedBytesPerToken != quantizedBefore)
            QuantizedBytesPerToken = quantizedBefore + (product.WeightBytes + vocabulary - 1) / vocabulary;
        return product;
    }

    private TensorData Kept(string name) =>
        _kept.TryGetValue(name, out TensorData? tensor)
            ? tensor
            : throw ModelFileError.Create(_source, name, "tensor is missing.");
}
