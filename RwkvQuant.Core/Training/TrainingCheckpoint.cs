using System.Globalization;
using System.Text.Json;
using RwkvQuant.Formats;
using RwkvQuant.Formats.Safetensors;
using RwkvQuant.Models;
using static TorchSharp.torch;

namespace RwkvQuant.Training;

/// <summary>
/// A training checkpoint: one safetensors file holding the weights (<c>model/&lt;name&gt;</c>), the AdamW moments
/// (<c>adam.m/&lt;name&gt;</c>, <c>adam.v/&lt;name&gt;</c>), all float32, and in its metadata the step, the options,
/// the training time, the log so far and the training losses not yet in a log row (so a resumed run logs exactly what an
/// uninterrupted one logs). Written atomically, so an interrupted save leaves the previous checkpoint.
/// </summary>
internal sealed record TrainingCheckpoint(
    int Step, Rwkv7TrainingOptions Options, double ElapsedSeconds, IReadOnlyList<TrainingLogEntry> Log,
    double PendingLossSum, int PendingSteps,
    RwkvModel Model, IReadOnlyDictionary<string, (float[] M, float[] V)> Moments)
{
    public const string FormatId = "rwkvquant.rwkv7-training-checkpoint";
    public const string FormatVersion = "1";
    private const string ModelPrefix = "model/", MomentPrefix = "adam.m/", SecondMomentPrefix = "adam.v/";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false };

    /// <summary>Saves the live training state atomically to <paramref name="path"/>.</summary>
    public static void Save(string path, Rwkv7TrainingModel model, AdamW optimizer, Rwkv7TrainingOptions options,
        double elapsedSeconds, IReadOnlyList<TrainingLogEntry> log, double pendingLossSum, int pendingSteps)
    {
        var tensors = new List<TensorData>();
        foreach ((string name, Tensor p) in model.Parameters)
        {
            (Tensor m, Tensor v) = optimizer.Moments(name);
            tensors.Add(ToData(ModelPrefix + name, p));
            tensors.Add(ToData(MomentPrefix + name, m));
            tensors.Add(ToData(SecondMomentPrefix + name, v));
        }
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["format"] = FormatId,
            ["format_version"] = FormatVersion,
            ["step"] = optimizer.StepCount.ToString(CultureInfo.InvariantCulture),
            ["elapsed_seconds"] = elapsedSeconds.ToString("R", CultureInfo.InvariantCulture),
            ["options"] = JsonSerializer.Serialize(options, Json),
            ["log"] = JsonSerializer.Serialize(log, Json),
            ["pending_loss_sum"] = pendingLossSum.ToString("R", CultureInfo.InvariantCulture),
            ["pending_steps"] = pendingSteps.ToString(CultureInfo.InvariantCulture),
        };
        SafetensorsWriter.Write(path, tensors, metadata); // atomic (AtomicFile)
    }

    /// <summary>The options of the run that wrote the checkpoint at <paramref name="path"/>, from its header alone.</summary>
    /// <exception cref="InvalidDataException">The file is not such a checkpoint (the message names it).</exception>
    public static Rwkv7TrainingOptions ReadOptions(string path)
    {
        using OpenModelFile open = OpenModelFile.Open(path);
        SafetensorsFile file = SafetensorsReader.Open(open);                 // the header only
        if (!file.Metadata.TryGetValue("format", out string? format) || format != FormatId || !file.Metadata.TryGetValue("options", out string? json))
            throw ModelFileError.Create(path, null, $"not a {FormatId} file.");
        try
        {
            return JsonSerializer.Deserialize<Rwkv7TrainingOptions>(json, Json) ?? throw ModelFileError.Create(path, null, "the options metadata is null.");
        }
        catch (Exception exception) when (exception is JsonException or ArgumentException)
        {
            throw ModelFileError.Create(path, null, $"the options metadata is unreadable ({exception.Message}).");
        }
    }

    /// <summary>Reads a checkpoint written by <see cref="Save"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not such a checkpoint, or a tensor is missing (the message names the file and tensor).</exception>
    public static TrainingCheckpoint Load(string path)
    {
        SafetensorsFile file = SafetensorsReader.Read(path);
        string Meta(string key) => file.Metadata.TryGetValue(key, out string? value)
            ? value
            : throw ModelFileError.Create(path, null, $"metadata '{key}' is missing: not a {FormatId} file.");
        if (Meta("format") != FormatId || Meta("format_version") != FormatVersion)
            throw ModelFileError.Create(path, null, $"expected format {FormatId} version {FormatVersion}, found {Meta("format")} version {Meta("format_version")}.");
        Rwkv7TrainingOptions options;
        List<TrainingLogEntry> log;
        try
        {
            options = JsonSerializer.Deserialize<Rwkv7TrainingOptions>(Meta("options"), Json)
                ?? throw ModelFileError.Create(path, null, "the options metadata is null.");
            log = JsonSerializer.Deserialize<List<TrainingLogEntry>>(Meta("log"), Json) ?? [];
        }
        catch (Exception exception) when (exception is JsonException or ArgumentException)
        {
            throw ModelFileError.Create(path, null, $"the options or log metadata is unreadable ({exception.Message}).");
        }
        int step = int.Parse(Meta("step"), CultureInfo.InvariantCulture);
        double elapsed = double.Parse(Meta("elapsed_seconds"), CultureInfo.InvariantCulture);
        double pendingLoss = double.Parse(Meta("pending_loss_sum"), CultureInfo.InvariantCulture);
        int pendingSteps = int.Parse(Meta("pending_steps"), CultureInfo.InvariantCulture);

        var byName = file.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var weights = new List<TensorData>();
        var moments = new Dictionary<string, (float[], float[])>(StringComparer.Ordinal);
        foreach (TensorData t in file.Tensors)
        {
            if (!t.Name.StartsWith(ModelPrefix, StringComparison.Ordinal))
                continue;
            string name = t.Name[ModelPrefix.Length..];
            weights.Add(t.WithName(name));
            TensorData Moment(string prefix) => byName.TryGetValue(prefix + name, out TensorData? m)
                ? m
                : throw ModelFileError.Create(path, prefix + name, "tensor is missing.");
            moments[name] = (Moment(MomentPrefix).ToFloatArray(), Moment(SecondMomentPrefix).ToFloatArray());
        }
        RwkvConfig config = RwkvConfigInference.Infer(weights.ToDictionary(w => w.Name, StringComparer.Ordinal), path);
        return new TrainingCheckpoint(step, options, elapsed, log, pendingLoss, pendingSteps, new RwkvModel(config, weights, path), moments);
    }

    /// <summary>A training tensor's values, detached and copied out as <paramref name="name"/>.</summary>
    internal static TensorData ToData(string name, Tensor value)
    {
        using Tensor detached = value.detach();
        using Tensor contiguous = detached.contiguous();
        return TensorData.FromFloats(name, value.shape, contiguous.data<float>().ToArray());
    }
}
