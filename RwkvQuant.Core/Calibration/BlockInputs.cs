using RwkvQuant.Models;
using static TorchSharp.torch;

namespace RwkvQuant.Calibration;

/// <summary>
/// The calibration samples' activations at the input of one block, batch by batch, for sequential (block by block)
/// calibration without re-running the earlier blocks: <see cref="Embed"/> gives block 0's input, <see cref="Observe"/>
/// runs the current block with an observer (statistics only) and <see cref="Advance"/> replaces the inputs by the
/// block's outputs under a network whose block is already quantized, so block i+1 sees the quantized block i. Each
/// block runs twice per sample in all, instead of a full forward pass per block. The activations
/// (<c>samples × tokens × C</c> floats, twice that for RWKV-7, whose blocks also carry block 0's value: 1.07 GB at the
/// 1.5B shape) wait in an <see cref="ActivationSpill"/> file, not in memory, and only the batch being run is read back:
/// exact, and out of the way of the Hessians and quantizers that follow each pass.
/// </summary>
internal sealed class BlockInputs : IDisposable
{
    private readonly ActivationSpill _spill;
    private readonly Batch[] _batches;

    private BlockInputs(ActivationSpill spill, Batch[] batches) => (_spill, _batches) = (spill, batches);

    /// <summary>
    /// Most values of one <c>[B, T, C]</c> activation per block call: 2²⁰ floats (4 MB). A block's forward pass holds a few
    /// dozen such tensors at once (and the feed-forward ones four times wider), so this bounds a call's working memory
    /// near 0.25 GB whatever the model's width, where a fixed batch of samples would grow with it. Smaller is not only
    /// less: glibc's allocator, under libtorch, fragments on the larger tensors, and resident memory grew call by call
    /// (one block of the 0.1B shape: 2.9 GB at 2²², 1.9 GB at 2²¹, a flat 1.35 GB at 2²⁰; whole model 3.56 → 1.80 GB).
    /// </summary>
    internal const long ActivationBudget = 1L << 20;

    /// <summary>The samples per block call: <see cref="CalibrationOptions.BatchSize"/>, or fewer (at least one) when
    /// that many samples would exceed <see cref="ActivationBudget"/> at width <paramref name="width"/>. The batch size
    /// does not change the statistics, only the rounding of their sums.</summary>
    internal static int BatchSizeFor(CalibrationOptions options, int width) =>
        (int)Math.Clamp(ActivationBudget / ((long)options.TokensPerSample * width), 1, options.BatchSize);

    /// <summary>The next block to run (0 after <see cref="Embed"/>; one more after each <see cref="Advance"/>).</summary>
    public int NextBlock { get; private set; }

    /// <summary>Block 0's input for every sample of <paramref name="data"/>, in batches of its batch size.</summary>
    public static BlockInputs Embed(RwkvNetwork network, CalibrationData data, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(data);
        var spill = new ActivationSpill();
        try
        {
            var batches = new List<Batch>();
            int total = data.Samples.Count, size = BatchSizeFor(data.Options, network.Config.EmbeddingSize);
            for (int first = 0; first < total; first += size)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using Tensor tokens = data.Batch(first, Math.Min(size, total - first));
                using Tensor x = network.EmbedTokens(tokens);
                batches.Add(new Batch(spill.Append(x)));
            }
            return new BlockInputs(spill, [.. batches]);
        }
        catch
        {
            spill.Dispose();
            throw;
        }
    }

    /// <summary>Runs block <see cref="NextBlock"/> of <paramref name="network"/> over every batch with <paramref name="observer"/> listening; the inputs stay as they are.</summary>
    public void Observe(RwkvNetwork network, INetworkObserver observer, IProgress<CalibrationProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(observer);
        int done = 0, total = _batches.Sum(b => b.Samples);
        foreach (Batch batch in _batches)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using (NewDisposeScope())
            {
                Tensor x = _spill.Read(batch.X);
                var carry = new BlockCarry { ValueFirst = batch.ValueFirst is { } first ? _spill.Read(first) : null }; // what this run hands on is thrown away
                network.RunBlockAlone(NextBlock, x, carry, observer);
            }
            done += batch.Samples;
            progress?.Report(new CalibrationProgress(done, total));
        }
    }

    /// <summary>Replaces every batch's input by block <see cref="NextBlock"/>'s output under <paramref name="network"/>, and
    /// moves on to the next block; <paramref name="observer"/>, when given, listens to that same pass (one pass where the
    /// observed network is the one that hands on, as for a float model's importance matrix).</summary>
    public void Advance(RwkvNetwork network, CancellationToken cancellationToken, INetworkObserver? observer = null,
        IProgress<CalibrationProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        int done = 0, total = _batches.Sum(b => b.Samples);
        foreach (Batch batch in _batches)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            Tensor x = _spill.Read(batch.X);
            Tensor? before = batch.ValueFirst is { } first ? _spill.Read(first) : null;
            var carry = new BlockCarry { ValueFirst = before };
            Tensor output = network.RunBlockAlone(NextBlock, x, carry, observer);
            _spill.Write(batch.X, output); // same shape: the input is no longer needed
            if (carry.ValueFirst is { } made && !ReferenceEquals(made, before))
            {
                // Block 0 sets the value every later block mixes in; it does not change after that.
                if (batch.ValueFirst is { } slot)
                    _spill.Write(slot, made);
                else
                    batch.ValueFirst = _spill.Append(made);
            }
            done += batch.Samples;
            progress?.Report(new CalibrationProgress(done, total));
        }
        NextBlock++;
    }

    /// <inheritdoc />
    public void Dispose() => _spill.Dispose();

    /// <summary>Where one batch's activations lie in the spill file: its input <c>[B, T, C]</c> and, for RWKV-7 after
    /// block 0, block 0's value.</summary>
    private sealed class Batch(ActivationSpill.Slot x)
    {
        public ActivationSpill.Slot X { get; } = x;

        public ActivationSpill.Slot? ValueFirst { get; set; }

        public int Samples => checked((int)X.Shape[0]);
    }
}
