using System.Globalization;
using RwkvQuant.Formats;
using RwkvQuant.Formats.Safetensors;
using RwkvQuant.Models;
using RwkvQuant.Native;
using static TorchSharp.torch;

namespace RwkvQuant.Calibration;

/// <summary>
/// Per block matrix of a model, the importance of each input column, E[x_j²] over the calibration inputs x that the
/// <c>[out, in]</c> matrix sees (the diagonal of the Hessian, H_jj / 2): llama.cpp's importance matrix. Collected in one
/// pass of the float model (<see cref="Collect"/>), stored in a small safetensors file (<see cref="Save"/>, one F32
/// vector per matrix under its canonical name, the token count and the calibration's description in the metadata) and
/// read back (<see cref="Load"/>) so that several quantizations reuse one calibration, as <c>llama-imatrix</c> does.
/// Immutable.
/// </summary>
public sealed class ImportanceMatrix
{
    /// <summary>The <c>format</c> value in a saved file's metadata.</summary>
    public const string FormatName = "rwkvquant-imatrix";

    private readonly Dictionary<string, float[]> _columns;

    private ImportanceMatrix(Dictionary<string, float[]> columns, long tokenCount, string description, string? source)
    {
        _columns = columns;
        Source = source;
        TokenCount = tokenCount;
        Description = description;
    }

    /// <summary>The importances by canonical matrix name, each <c>[columns]</c>.</summary>
    public IReadOnlyDictionary<string, float[]> Columns => _columns;

    /// <summary>Calibration tokens behind every entry.</summary>
    public long TokenCount { get; }

    /// <summary>What the calibration was (text, documents, samples), as given when collected.</summary>
    public string Description { get; }

    /// <summary>The file it was loaded from, or null when collected here; errors about it name this.</summary>
    public string? Source { get; }

    /// <summary>The importances of matrix <paramref name="name"/>, or null when there are none.</summary>
    public float[]? For(string name) => _columns.GetValueOrDefault(name);

    /// <summary>
    /// Runs <paramref name="model"/> over <paramref name="data"/> once, block by block, and averages x_j² per input column
    /// of every block matrix. Progress counts each sample once per block (samples × blocks in all).
    /// </summary>
    /// <remarks>The description says what the calibration was and is kept in the file (e.g. "lambada_test.jsonl
    /// documents 0..127, 128 × 512 tokens").</remarks>
    /// <exception cref="InvalidOperationException">A block matrix saw no input, or an input held NaN or infinity.</exception>
    public static ImportanceMatrix Collect(RwkvModel model, CalibrationData data, string description, IProgress<CalibrationProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(description);
        LinearWeight[] weights = [.. LinearWeights.Of(model).Where(w => w.Block >= 0)];
        var observer = new SquareObserver(weights);
        // Block by block, as the pipeline calibrates: one block's float32 weights at a time, the activations between
        // blocks in a temporary file (a whole-model pass held every block's float32 copy: 13 GB at the 1.5B shape).
        int blocks = model.Config.LayerCount, samples = data.Samples.Count;
        BlockInputs inputs;
        using (RwkvNetwork embedding = RwkvNetwork.Create(model))
            inputs = BlockInputs.Embed(embedding, data, cancellationToken);
        NativeMemory.Release();
        using (inputs)
        {
            for (int block = 0; block < blocks; block++)
            {
                int before = block * samples;
                using (RwkvNetwork network = RwkvNetwork.Create(model))
                {
                    Relay? relay = progress is null ? null
                        : new Relay(p => progress.Report(new CalibrationProgress(before + p.SamplesDone, blocks * samples)));
                    inputs.Advance(network, cancellationToken, observer, relay);
                }
                NativeMemory.Release();
            }
        }
        var columns = new Dictionary<string, float[]>(StringComparer.Ordinal);
        long tokens = 0;
        foreach (LinearWeight weight in weights)
        {
            if (observer.Sums.Count(weight.Name) == 0)
                throw new InvalidOperationException($"'{weight.Name}' saw no calibration input; the network and the model disagree.");
            columns[weight.Name] = [.. observer.Sums.Mean(weight.Name).Select(s => (float)s)];
            tokens = Math.Max(tokens, observer.Sums.Count(weight.Name));
        }
        return new ImportanceMatrix(columns, tokens, description, source: null);
    }

    /// <summary>Writes the matrix to <paramref name="path"/> (safetensors, atomically).</summary>
    /// <exception cref="IOException">The file cannot be written (the message names it); nothing is left behind.</exception>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        TensorData[] tensors = [.. _columns.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => TensorData.FromFloats(e.Key, [e.Value.Length], e.Value))];
        SafetensorsWriter.Write(path, tensors, new Dictionary<string, string>
        {
            ["format"] = FormatName,
            ["version"] = "1",
            ["tokens"] = TokenCount.ToString(CultureInfo.InvariantCulture),
            ["calibration"] = Description,
        });
    }

    /// <summary>Reads a file <see cref="Save"/> wrote.</summary>
    /// <exception cref="InvalidDataException">Not such a file, or an entry that is not a 1-D F32 vector of finite, non-negative
    /// values (the message names the file and the entry).</exception>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    public static ImportanceMatrix Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        SafetensorsFile file = SafetensorsReader.Read(path);
        if (file.Metadata.GetValueOrDefault("format") != FormatName)
            throw ModelFileError.Create(path, null, $"not an importance matrix (its metadata has no \"format\": \"{FormatName}\"); make one with " +
                "'rwkvquant imatrix'.");
        if (file.Metadata.GetValueOrDefault("version") != "1")
            throw ModelFileError.Create(path, null, "importance matrix version " +
                $"'{file.Metadata.GetValueOrDefault("version")}' is not supported (this library reads version 1).");
        if (!long.TryParse(file.Metadata.GetValueOrDefault("tokens"), NumberStyles.None, CultureInfo.InvariantCulture, out long tokens) || tokens < 1)
            throw ModelFileError.Create(path, null, "the metadata's \"tokens\" is not a positive whole number.");
        var columns = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (TensorData tensor in file.Tensors)
        {
            if (tensor.Type != TensorDataType.F32 || tensor.Shape.Count != 1 || tensor.Shape[0] < 1)
                throw ModelFileError.Create(path, tensor.Name, $"an importance entry is a non-empty 1-D F32 vector; this one is {tensor.Type} " +
                    $"[{string.Join(", ", tensor.Shape)}].");
            float[] values = tensor.ToFloatArray();
            int bad = Array.FindIndex(values, v => !(v >= 0) || float.IsInfinity(v));
            if (bad >= 0)
                throw ModelFileError.Create(path, tensor.Name, $"importance {bad} is {values[bad].ToString(CultureInfo.InvariantCulture)}; importances " +
                    "are finite and not negative.");
            columns[tensor.Name] = values;
        }
        if (columns.Count == 0)
            throw ModelFileError.Create(path, null, "the importance matrix has no entries.");
        return new ImportanceMatrix(columns, tokens, file.Metadata.GetValueOrDefault("calibration") ?? "", path);
    }

    /// <summary>Checks that the matrix was made for <paramref name="model"/>: an entry of the right width for every block
    /// matrix and none for anything else.</summary>
    /// <exception cref="InvalidDataException">A matrix has no entry or one of another width, or an entry names no block matrix
    /// (the message names the file (<see cref="Source"/>, or "the importance matrix" when collected), the entry and the model).</exception>
    public void EnsureMatches(RwkvModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        string source = Source ?? "the importance matrix";
        string modelName = model.SourcePath is { } p ? $"'{Path.GetFileName(p)}'" : "this model";
        var weights = LinearWeights.Of(model).Where(w => w.Block >= 0).ToDictionary(w => w.Name, StringComparer.Ordinal);
        foreach (LinearWeight weight in weights.Values)
        {
            if (!_columns.TryGetValue(weight.Name, out float[]? values))
                throw ModelFileError.Create(source, weight.Name, $"the importance matrix has no entry for this matrix of {modelName}; was it made for " +
                    "another model?");
            if (values.Length != weight.Columns)
                throw ModelFileError.Create(source, weight.Name, $"the importance matrix has {values.Length} columns, but the matrix of {modelName} has " +
                    $"{weight.Columns}; was it made for another model?");
        }
        if (_columns.Keys.FirstOrDefault(n => !weights.ContainsKey(n)) is { } extra)
            throw ModelFileError.Create(source, extra, $"names no block matrix of {modelName}; was the importance matrix made for another model?");
    }

    /// <summary>Hands each report on at once, on the reporting thread.</summary>
    private sealed class Relay(Action<CalibrationProgress> report) : IProgress<CalibrationProgress>
    {
        public void Report(CalibrationProgress value) => report(value);
    }

    /// <summary>Sums x_j² and counts the rows per observed weight (in float64).</summary>
    private sealed class SquareObserver(IEnumerable<LinearWeight> weights) : INetworkObserver
    {
        private readonly Dictionary<string, int> _widths = weights.ToDictionary(w => w.Name, w => w.Columns, StringComparer.Ordinal);

        public ChannelSquareSums Sums { get; } = new();

        public void OnLinearInput(string weightName, Tensor input)
        {
            if (!_widths.TryGetValue(weightName, out int width))
                return;
            if (input.shape[^1] != width)
                throw new InvalidOperationException($"'{weightName}' has {width} columns but its input is " +
                    $"[{string.Join(", ", input.shape)}]; the network and the model disagree.");
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            Tensor x = input.detach().reshape(-1, width).to(ScalarType.Float64);
            double[] sum = x.mul(x).sum([0L]).data<double>().ToArray(); // not square(): it makes a finalizer-freed Scalar; sum(0) would be sum(ScalarType.Byte)
            if (!sum.All(double.IsFinite))
                throw new InvalidOperationException($"The calibration inputs of '{weightName}' hold NaN or infinity.");
            Sums.Add(weightName, sum, x.shape[0]);
        }

        public void OnMultiplyOperand(string vectorName, Tensor operand)
        {
        }
    }
}
