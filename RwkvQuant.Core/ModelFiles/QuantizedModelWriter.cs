using System.Text.Json;
using RwkvQuant.Formats;
using RwkvQuant.Formats.Safetensors;
using RwkvQuant.ModelFiles;
using RwkvQuant.Models;
using RwkvQuant.Quantization;

namespace RwkvQuant.ModelFiles;

/// <summary>
/// Writes a <c>.rwkvq</c> file (<see cref="QuantizedModelFile"/>) tensor by tensor, so that quantizing a model never
/// holds all its quantized tensors at once (at 14B they are ~6.6 GB). Each added tensor is encoded at once and its
/// bytes appended to a hidden spill file beside the output (<c>.{name}.{guid}.parts</c>, deleted when the writer is
/// disposed, whatever happened); <see cref="Complete"/> then writes the output atomically: the safetensors header,
/// which must list every entry first, and the spilled bytes after it. Until then no output exists, and a previous file
/// at the path is untouched. The output's folder is checked when the writer is made, before any work.
/// </summary>
internal sealed class QuantizedModelWriter : IDisposable
{
    private readonly string _path;
    private readonly RwkvConfig _config;
    private readonly FileStream _spill;
    private readonly List<SafetensorsEntry> _entries = [];
    private readonly HashSet<string> _tensorNames = new(StringComparer.Ordinal);
    private readonly MemoryStream _json = new();
    private readonly Utf8JsonWriter _writer;
    private bool _done;

    /// <summary>Starts a file at <paramref name="path"/> for a model of <paramref name="config"/>.</summary>
    /// <exception cref="DirectoryNotFoundException">The output's folder does not exist.</exception>
    /// <exception cref="UnauthorizedAccessException">The output's folder cannot be written.</exception>
    public QuantizedModelWriter(string path, RwkvConfig config)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(config);
        _path = Path.GetFullPath(path);
        _config = config;
        string folder = Path.GetDirectoryName(_path) ?? ".";
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"Cannot write '{path}': the folder '{folder}' does not exist.");
        string spill = Path.Combine(folder, $".{Path.GetFileName(_path)}.{Guid.NewGuid():N}.parts");
        try
        {
            // Unbuffered: a failed write fails at once, and disposing after a failure has nothing left to flush (which would throw again).
            _spill = new FileStream(spill, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, bufferSize: 0, FileOptions.DeleteOnClose);
        }
        catch (UnauthorizedAccessException exception)
        {
            throw new UnauthorizedAccessException($"Cannot write '{path}': the folder '{folder}' is not writable.", exception);
        }
        _writer = new Utf8JsonWriter(_json);
        _writer.WriteStartObject();
    }

    /// <summary>Encodes <paramref name="slot"/>'s tensor and spills its parts.</summary>
    /// <exception cref="ArgumentException">The slot does not hold its tensor, or the name was added before.</exception>
    public void Add(QuantizedSlot slot)
    {
        ArgumentNullException.ThrowIfNull(slot);
        ThrowIfDone();
        slot.Validate();
        QuantizedTensor tensor = slot.Tensor;
        Claim(tensor.Name);
        QuantizedTensorCodec codec = QuantizedTensorCodecs.For(tensor);
        _writer.WriteStartObject(tensor.Name);
        _writer.WriteString("scheme", codec.SchemeId);
        _writer.WriteNumber("rows", tensor.Rows);
        _writer.WriteNumber("columns", tensor.Columns);
        _writer.WriteStartArray("shape");
        foreach (long dimension in slot.CanonicalShape)
            _writer.WriteNumberValue(dimension);
        _writer.WriteEndArray();
        _writer.WriteString("layout", slot.Layout.ToString());
        _writer.WriteNumber("stored_bits", tensor.StoredBits);
        _writer.WriteString("description", tensor.Scheme);
        codec.Encode(tensor, _writer, new TensorPartWriter(tensor.Name, this));
        _writer.WriteEndObject();
    }

    /// <summary>Spills <paramref name="tensor"/> as a full-precision entry (F16, BF16 or F32, as given).</summary>
    /// <exception cref="ArgumentException">The tensor is not floating point, or the name was added before.</exception>
    public void Add(TensorData tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        ThrowIfDone();
        if (!tensor.Type.IsFloatingPoint())
            throw new ArgumentException($"Full-precision tensor '{tensor.Name}' has type {tensor.Type}, not a floating-point type.", nameof(tensor));
        Claim(tensor.Name);
        Spill(new SafetensorsEntry(tensor.Name, tensor.Type, tensor.Shape), tensor.Bytes);
    }

    /// <summary>Spills one part of a quantized tensor (called by the codecs through <see cref="TensorPartWriter"/>).</summary>
    internal void AddPart(string name, TensorDataType type, long[] shape, ReadOnlySpan<byte> bytes)
    {
        ThrowIfDone();
        var entry = new SafetensorsEntry(name, type, shape);
        if (entry.ByteCount != bytes.Length)
            throw new InvalidOperationException($"Part '{name}' is declared as {entry.ByteCount} bytes but has {bytes.Length}.");
        Spill(entry, bytes);
    }

    /// <summary>
    /// Writes the output atomically: the header (every entry, the config, the quantized tensors' descriptions), then
    /// the spilled bytes; the spill file is deleted when the writer is disposed.
    /// </summary>
    /// <exception cref="OperationCanceledException">Cancelled while copying; no output is left.</exception>
    public void Complete(CancellationToken cancellationToken = default)
    {
        ThrowIfDone();
        _done = true;
        _writer.WriteEndObject();
        _writer.Flush();
        IReadOnlyDictionary<string, string> metadata = QuantizedModelFile.Metadata(_config, System.Text.Encoding.UTF8.GetString(_json.GetBuffer(), 0, (int)_json.Length));
        _spill.Flush();
        _spill.Position = 0;
        SafetensorsWriter.Write(_path, _entries, _spill, metadata, cancellationToken);
    }

    /// <summary>Deletes the spill file; the output exists only if <see cref="Complete"/> returned.</summary>
    public void Dispose()
    {
        _done = true;
        _writer.Dispose();
        _spill.Dispose();
    }

    private void Spill(SafetensorsEntry entry, ReadOnlySpan<byte> bytes)
    {
        _entries.Add(entry);
        try
        {
            _spill.Write(bytes);
        }
        catch (Exception e) when (AtomicFile.IsWriteFailure(e))
        {
            throw AtomicFile.WriteFailure(_path, e, $" (while keeping tensor '{entry.Name}' in a temporary file beside it until the model is done)");
        }
    }

    private void Claim(string name)
    {
        if (!_tensorNames.Add(name))
            throw new ArgumentException($"Tensor '{name}' is added twice to {_path}.", nameof(name));
    }

    private void ThrowIfDone() => ObjectDisposedException.ThrowIf(_done, this);
}
