using System.Globalization;
using System.Text;
using System.Text.Json;
using RwkvQuant.Formats;
using RwkvQuant.Formats.Safetensors;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;

namespace RwkvQuant.ModelFiles;

/// <summary>
/// The <c>.rwkvq</c> file: a safetensors container holding a <see cref="QuantizedModel"/>.
/// <para>Metadata: <c>format</c> = <c>"rwkvquant"</c>, <c>format_version</c> (an integer, now 1),
/// <c>rwkv_version</c>, <c>config</c> (JSON: version, layers, embedding_size, vocabulary_size, head_count, head_size,
/// feed_forward_size) and <c>tensors</c>: a JSON object mapping each quantized tensor's canonical name to
/// <c>{scheme, rows, columns, shape, layout, stored_bits, description, …}</c> where <c>shape</c> and <c>layout</c>
/// (<c>OutIn</c>, <c>InOut</c>, <c>StackedInOut</c>) place the <c>[rows, columns]</c> matrix in the canonical tensor and
/// the remaining fields are the scheme's parameters.</para>
/// <para>Entries: each quantized tensor's packed parts as <c>{name}.{part}</c> (e.g. <c>.codes</c> U8, <c>.scales</c>
/// F16, <c>.codebooks</c> I8, <c>.blocks</c> U8); every other entry is a full-precision tensor under its canonical
/// name, as F16, BF16 or F32.</para>
/// </summary>
public static class QuantizedModelFile
{
    /// <summary>The value of the <c>format</c> metadata entry.</summary>
    public const string FormatId = "rwkvquant";

    /// <summary>The format version this library writes and reads.</summary>
    public const int FormatVersion = 1;

    private const string VersionKey = "format_version";
    private const string RwkvVersionKey = "rwkv_version";
    private const string ConfigKey = "config";
    private const string TensorsKey = "tensors";

    /// <summary>
    /// Saves <paramref name="model"/> to <paramref name="path"/> atomically: the file appears complete or not at all (a
    /// previous file there is kept on failure or cancellation).
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (checked between
    /// tensors); no file is left behind.</exception>
    public static void Save(QuantizedModel model, string path, CancellationToken cancellationToken = default) =>
        Save(model, path, null, cancellationToken);

    /// <summary><see cref="Save(QuantizedModel, string, CancellationToken)"/> with a hook run after each tensor is encoded.</summary>
    internal static void Save(QuantizedModel model, string path, Action<string>? afterTensor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var file = new QuantizedModelWriter(path, model.Config);
        foreach (QuantizedSlot slot in model.Slots)
        {
            cancellationToken.ThrowIfCancellationRequested();
            file.Add(slot);
            afterTensor?.Invoke(slot.Tensor.Name);
        }
        foreach (TensorData tensor in model.FullPrecisionTensors)
        {
            cancellationToken.ThrowIfCancellationRequested();
            file.Add(tensor);
            afterTensor?.Invoke(tensor.Name);
        }
        cancellationToken.ThrowIfCancellationRequested();
        file.Complete(cancellationToken);
    }

    /// <summary>The file's metadata for a model of <paramref name="config"/> whose quantized tensors <paramref name="tensorsJson"/> describes.</summary>
    internal static IReadOnlyDictionary<string, string> Metadata(RwkvConfig config, string tensorsJson) =>
        new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [RwkvModelFile.FormatMetadataKey] = FormatId,
            [VersionKey] = FormatVersion.ToString(CultureInfo.InvariantCulture),
            [RwkvVersionKey] = config.Version.ToString(),
            [ConfigKey] = WriteConfig(config),
            [TensorsKey] = tensorsJson,
        };

    /// <summary>Loads a <c>.rwkvq</c> file.</summary>
    /// <exception cref="InvalidDataException">The file is not a valid <c>.rwkvq</c> file: not safetensors, another format
    /// id, an unsupported version, bad metadata JSON, a missing or mis-sized part, an unknown scheme (the message names
    /// the file and the tensor).</exception>
    public static QuantizedModel Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        // Tensor by tensor from the open file: each quantized tensor's parts are read and decoded in turn, so the
        // file's bytes are never held whole beside the decoded model; the kept tensors are read into memory, and the
        // file is closed on return.
        using OpenModelFile file = OpenModelFile.Open(path);
        return FromSafetensors(SafetensorsReader.Open(file), path, keptInMemory: true);
    }

    /// <summary>
    /// Reads and checks the header of a <c>.rwkvq</c> file — metadata, every tensor's description, the config against
    /// the shapes — without reading or decoding a tensor's parts.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not a valid <c>.rwkvq</c> file (the message names the file and,
    /// where there is one, the tensor).</exception>
    public static QuantizedModelHeader ReadHeader(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using OpenModelFile file = OpenModelFile.Open(path);
        QuantizedModelContents contents = ReadContents(SafetensorsReader.Open(file), path);
        return new QuantizedModelHeader(path, contents.Config, contents.Tensors);
    }

    /// <summary>True when <paramref name="path"/> is a safetensors file that declares itself a <c>.rwkvq</c> file (only
    /// its header is read).</summary>
    /// <exception cref="InvalidDataException">The file looks like safetensors but its header is malformed.</exception>
    public static bool IsQuantizedModel(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (RwkvModelFile.DetectFormat(path) != ModelFileFormat.Safetensors)
            return false;
        using OpenModelFile file = OpenModelFile.Open(path);
        return IsQuantizedModel(SafetensorsReader.Open(file));
    }

    /// <summary>True when the safetensors file declares itself a <c>.rwkvq</c> file.</summary>
    internal static bool IsQuantizedModel(SafetensorsFile file) =>
        file.Metadata.TryGetValue(RwkvModelFile.FormatMetadataKey, out string? format) && format == FormatId;

    /// <summary>Builds the model from a safetensors file already read (and validated as a container).</summary>
    /// <param name="file">The container.</param>
    /// <param name="path">Its path, for messages.</param>
    /// <param name="keptInMemory">Read file-backed full-precision tensors into memory (the caller closes the file).</param>
    internal static QuantizedModel FromSafetensors(SafetensorsFile file, string path, bool keptInMemory = false)
    {
        QuantizedModelContents contents = ReadContents(file, path);
        var slots = contents.QuantizedNames.Select(contents.Decode).ToList();
        contents.CheckComplete();
        IEnumerable<TensorData> kept = keptInMemory ? contents.FullPrecisionTensors.Select(t => t.InMemory()) : contents.FullPrecisionTensors;
        try
        {
            return new QuantizedModel(contents.Config, slots, kept, path);
        }
        catch (ArgumentException exception)
        {
            throw ModelFileError.Create(path, null, exception.Message, exception);
        }
    }

    /// <summary>
    /// Reads and checks the header of a <c>.rwkvq</c> safetensors file — metadata, each quantized tensor's description,
    /// which entries are parts, the full-precision tensors' types, the config against the declared shapes — without
    /// decoding a quantized tensor (<see cref="QuantizedModelContents.Decode"/> does, one at a time).
    /// </summary>
    /// <exception cref="InvalidDataException">The header is not that of a valid <c>.rwkvq</c> file (the message names the
    /// file and, where there is one, the tensor).</exception>
    internal static QuantizedModelContents ReadContents(SafetensorsFile file, string path)
    {
        ArgumentNullException.ThrowIfNull(file);
        IReadOnlyDictionary<string, string> metadata = file.Metadata;
        string format = metadata.GetValueOrDefault(RwkvModelFile.FormatMetadataKey) ?? "(none)";
        if (format != FormatId)
            throw ModelFileError.Create(path, null, $"metadata format is '{format}', not '{FormatId}': not a quantized model file.");
        string versionText = Required(metadata, VersionKey, path);
        if (!int.TryParse(versionText, NumberStyles.None, CultureInfo.InvariantCulture, out int version))
            throw ModelFileError.Create(path, null, $"metadata {VersionKey} '{versionText}' is not an integer.");
        if (version != FormatVersion)
            throw ModelFileError.Create(path, null, $"format version {version} is not supported; this library reads version {FormatVersion}.");
        RwkvConfig config = ReadConfig(Required(metadata, ConfigKey, path), path);
        if (Required(metadata, RwkvVersionKey, path) != config.Version.ToString())
            throw ModelFileError.Create(path, null, $"metadata {RwkvVersionKey} '{metadata[RwkvVersionKey]}' contradicts the config's version {config.Version}.");

        var entries = new Dictionary<string, TensorData>(StringComparer.Ordinal);
        foreach (TensorData tensor in file.Tensors)
            entries[tensor.Name] = tensor;
        var descriptions = new List<QuantizedTensorDescription>();
        var quantizedNames = new HashSet<string>(StringComparer.Ordinal);
        using (JsonDocument document = Parse(Required(metadata, TensorsKey, path), TensorsKey, path))
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw ModelFileError.Create(path, null, $"metadata {TensorsKey} is a JSON {document.RootElement.ValueKind}, expected an object.");
            foreach (JsonProperty property in document.RootElement.EnumerateObject())
            {
                if (!quantizedNames.Add(property.Name))
                    throw ModelFileError.Create(path, property.Name, $"metadata {TensorsKey} describes the tensor twice.");
                descriptions.Add(ReadDescription(property.Name, property.Value.Clone(), path, entries));
            }
        }

        var parts = new List<(string Entry, string Owner)>();
        var fullPrecision = new List<TensorData>();
        foreach (TensorData tensor in file.Tensors)
        {
            if (quantizedNames.Contains(tensor.Name))
                throw ModelFileError.Create(path, tensor.Name, "the tensor is stored both quantized and in full precision.");
            string? owner = OwnerOf(tensor.Name, quantizedNames);
            if (owner is not null)
            {
                parts.Add((tensor.Name, owner));
                continue;
            }
            if (tensor.Type is not (TensorDataType.F16 or TensorDataType.BF16 or TensorDataType.F32))
                throw ModelFileError.Create(path, tensor.Name, $"a full-precision tensor is {tensor.Type}, expected F16, BF16 or F32.");
            fullPrecision.Add(tensor);
        }

        var shapes = descriptions.Select(d => (d.Name, d.Shape)).Concat(fullPrecision.Select(t => (t.Name, t.Shape)))
            .ToDictionary(p => p.Name, p => p.Shape, StringComparer.Ordinal);
        RwkvConfig inferred = RwkvConfigInference.InferFromShapes(shapes, path);
        if (inferred != config)
            throw ModelFileError.Create(path, null, $"the tensors make the model {inferred}, but the stored config says {config}.");
        CheckDeclaredSize(shapes.Values, file.Tensors.Sum(t => t.ByteCount), path);
        return new QuantizedModelContents(path, config, descriptions, entries, parts, fullPrecision);
    }

    /// <summary>
    /// The most float32 bytes the declared tensors may hold per byte of tensor data in the file: 64, i.e. half a bit per
    /// weight on average. Every scheme this library writes stores more (1-bit codes with their scales take over 1 bit),
    /// while a hostile description (vectors of 1,024 values with 1-bit codes) would expand its parts 32,768-fold.
    /// </summary>
    public const int MaxExpansion = 64;

    /// <summary>Refuses a file whose declared tensors would take more than <see cref="MaxExpansion"/> times its tensor
    /// data as float32, before anything is decoded.</summary>
    /// <exception cref="InvalidDataException">They would (the message names the file).</exception>
    internal static void CheckDeclaredSize(IEnumerable<IReadOnlyList<long>> shapes, long storedBytes, string path)
    {
        double parameters = shapes.Sum(shape => shape.Aggregate(1.0, (a, b) => a * b));
        if (parameters * sizeof(float) > (double)MaxExpansion * storedBytes)
        {
            throw ModelFileError.Create(path, null, string.Create(CultureInfo.InvariantCulture,
                $"its tensors declare {parameters:N0} parameters, {parameters * sizeof(float) / Math.Max(storedBytes, 1):N0} float32 bytes per byte of tensor data stored; a quantized model stores at least 1/{MaxExpansion} of that."));
        }
    }

    /// <summary>The quantized tensor whose part <paramref name="entry"/> would be (<c>{name}.{part}</c>), if any.</summary>
    private static string? OwnerOf(string entry, HashSet<string> quantizedNames)
    {
        // A part is named {tensor}.{suffix}; tensor names hold dots themselves, so try each dot from the right.
        for (int dot = entry.LastIndexOf('.'); dot > 0; dot = entry.LastIndexOf('.', dot - 1))
            if (quantizedNames.Contains(entry[..dot]))
                return entry[..dot];
        return null;
    }

    private static QuantizedTensorDescription ReadDescription(string name, JsonElement element, string path, IReadOnlyDictionary<string, TensorData> entries)
    {
        var parts = new TensorPartReader(path, name, entries, []);
        if (element.ValueKind != JsonValueKind.Object)
            throw parts.Error($"metadata entry is a JSON {element.ValueKind}, expected an object.");
        string scheme = parts.Text(element, "scheme");
        QuantizedTensorCodec codec = QuantizedTensorCodecs.Find(scheme)
            ?? throw parts.Error($"unknown scheme '{scheme}' (known: {string.Join(", ", QuantizedTensorCodecs.SchemeIds)}).");
        int rows = parts.Int(element, "rows", 1, int.MaxValue);
        int columns = parts.Int(element, "columns", 1, int.MaxValue);
        LinearLayout layout = parts.Enum<LinearLayout>(element, "layout");
        if (!element.TryGetProperty("shape", out JsonElement shapeElement) || shapeElement.ValueKind != JsonValueKind.Array || shapeElement.GetArrayLength() is < 1 or > 8)
            throw parts.Error("metadata field 'shape' is missing or not an array of 1 to 8 dimensions.");
        var shape = new List<long>();
        foreach (JsonElement dimension in shapeElement.EnumerateArray())
        {
            if (dimension.ValueKind != JsonValueKind.Number || !dimension.TryGetInt64(out long value) || value < 1)
                throw parts.Error($"metadata field 'shape' holds {dimension.GetRawText()}, expected a positive integer.");
            shape.Add(value);
        }
        if (!element.TryGetProperty("stored_bits", out JsonElement bitsElement) || bitsElement.ValueKind != JsonValueKind.Number || !bitsElement.TryGetInt64(out long storedBits))
            throw parts.Error("metadata field 'stored_bits' is missing or not an integer.");
        long count = 1;
        foreach (long dimension in shape)
        {
            if (count > long.MaxValue / dimension)
                throw parts.Error($"metadata field 'shape' [{string.Join(", ", shape)}] holds more than {long.MaxValue} weights.");
            count *= dimension;
        }
        if (count != (long)rows * columns)
            throw parts.Error($"metadata field 'shape' [{string.Join(", ", shape)}] holds {count} weights, but the matrix is [{rows}, {columns}].");
        return new QuantizedTensorDescription(name, codec, scheme, rows, columns, layout, shape, count, storedBits, element);
    }

    private static string WriteConfig(RwkvConfig config)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("version", config.Version.ToString());
            writer.WriteNumber("layers", config.LayerCount);
            writer.WriteNumber("embedding_size", config.EmbeddingSize);
            writer.WriteNumber("vocabulary_size", config.VocabularySize);
            writer.WriteNumber("head_count", config.HeadCount);
            writer.WriteNumber("head_size", config.HeadSize);
            writer.WriteNumber("feed_forward_size", config.FeedForwardSize);
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static RwkvConfig ReadConfig(string text, string path)
    {
        using JsonDocument document = Parse(text, ConfigKey, path);
        JsonElement root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
            throw ModelFileError.Create(path, null, $"metadata {ConfigKey} is a JSON {root.ValueKind}, expected an object.");
        int Field(string key)
        {
            if (!root.TryGetProperty(key, out JsonElement value) || value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out int result) || result < 1)
                throw ModelFileError.Create(path, null, $"metadata {ConfigKey} field '{key}' is missing or not a positive integer.");
            return result;
        }
        string versionText = root.TryGetProperty("version", out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";
        if (!Enum.TryParse(versionText, out RwkvVersion version) || !Enum.IsDefined(version) || int.TryParse(versionText, out _))
            throw ModelFileError.Create(path, null, $"metadata {ConfigKey} version '{versionText}' is not an RWKV version ({string.Join(", ", Enum.GetNames<RwkvVersion>())}).");
        return new RwkvConfig(version, Field("layers"), Field("embedding_size"), Field("vocabulary_size"),
            Field("head_count"), Field("head_size"), Field("feed_forward_size"));
    }

    /// <summary>Parses metadata entry <paramref name="key"/>; every name and string in it is checked to decode, so reading
    /// the document (here and in the codecs' <see cref="TensorPartReader"/>) cannot fail.</summary>
    private static JsonDocument Parse(string text, string key, string path) =>
        HeaderJson.Parse(text, 16, path, $"metadata {key}");

    private static string Required(IReadOnlyDictionary<string, string> metadata, string key, string path) =>
        metadata.TryGetValue(key, out string? value) ? value : throw ModelFileError.Create(path, null, $"metadata entry '{key}' is missing.");
}
