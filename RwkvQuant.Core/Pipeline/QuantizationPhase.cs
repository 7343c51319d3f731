using System.Diagnostics;

namespace RwkvQuant.Pipeline;

/// <summary>The parts of a sequential quantization run whose cost <see cref="HybridQuantizationResult.Phases"/> reports.</summary>
public enum QuantizationPhase
{
    /// <summary>The blocks' forward passes over the calibration samples: the embedding, each block observed (its
    /// inputs added to the Hessian and importance sums) and run again as quantized to make the next block's inputs.</summary>
    Calibration,

    /// <summary>Building each block's Hessians (and channel importances) from the accumulated sums.</summary>
    Hessians,

    /// <summary>Matrices that went to scalar quantization (GPTQ), proxy scoring included.</summary>
    Scalar,

    /// <summary>Matrices that went to vector quantization (GPTVQ), proxy scoring included.</summary>
    Vector,

    /// <summary>The multiplication vectors' codebooks.</summary>
    Codebooks,

    /// <summary>The report's Hessian-weighted error of each quantized matrix.</summary>
    ErrorReport,

    /// <summary>Writing the quantized and kept tensors (to the output file and its temporary parts).</summary>
    Writing,

    /// <summary>Everything else inside the run: returning freed memory to the system between matrices and blocks, building
    /// each block's networks.</summary>
    Other,
}

/// <summary>
/// What one <see cref="QuantizationPhase"/> cost over a whole run.
/// </summary>
/// <param name="Phase">The phase.</param>
/// <param name="Wall">Elapsed time spent in it.</param>
/// <param name="Cpu">Processor time of the whole process (all threads) while in it.</param>
/// <param name="PeakResidentBytes">The highest resident memory of the process seen while in it (sampled every 50 ms and
/// at its start and end, so a shorter spike can be missed; the process's true peak is never lower).</param>
public sealed record PhaseCost(QuantizationPhase Phase, TimeSpan Wall, TimeSpan Cpu, long PeakResidentBytes);

/// <summary>
/// Measures <see cref="PhaseCost"/>s: <see cref="Begin"/> and <see cref="End"/> bracket each stretch of work, which is
/// added to its phase; the time between brackets goes to <see cref="QuantizationPhase.Other"/>. A timer samples
/// resident memory into the current stretch's peak.
/// </summary>
internal sealed class PhaseMeter : IDisposable
{
    private const int SampleMilliseconds = 50;

    private readonly Process _process = Process.GetCurrentProcess();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly TimeSpan _startCpu;
    private readonly Dictionary<QuantizationPhase, (TimeSpan Wall, TimeSpan Cpu, long Peak)> _phases = [];
    private readonly Timer _sampler;
    private readonly Lock _gate = new();
    private long _stretchPeak, _outsidePeak;
    private TimeSpan _stretchWall, _stretchCpu;
    private bool _inside, _disposed;

    public PhaseMeter()
    {
        _startCpu = Cpu();
        _outsidePeak = Resident();
        _sampler = new Timer(_ => Sample(), null, SampleMilliseconds, SampleMilliseconds);
    }

    /// <summary>Starts a stretch of work (ending the one before it, if it was not ended, as <see cref="QuantizationPhase.Other"/>).</summary>
    public void Begin()
    {
        long resident = Resident();
        lock (_gate)
        {
            _inside = true;
            _stretchPeak = resident;
        }
        _stretchWall = _clock.Elapsed;
        _stretchCpu = Cpu();
    }

    /// <summary>Ends the stretch begun last and adds it to <paramref name="phase"/>.</summary>
    public void End(QuantizationPhase phase)
    {
        TimeSpan wall = _clock.Elapsed - _stretchWall, cpu = Cpu() - _stretchCpu;
        long resident = Resident(), peak;
        lock (_gate)
        {
            peak = Math.Max(_stretchPeak, resident);
            _inside = false;
            _outsidePeak = Math.Max(_outsidePeak, resident);
        }
        Add(phase, wall, cpu, peak);
    }

    /// <summary>Each phase's cost so far, in <see cref="QuantizationPhase"/> order, phases never entered left out;
    /// <see cref="QuantizationPhase.Other"/> is the run's time outside every stretch.</summary>
    public IReadOnlyList<PhaseCost> Costs()
    {
        TimeSpan wall = _clock.Elapsed, cpu = Cpu() - _startCpu;
        TimeSpan phasesWall = TimeSpan.Zero, phasesCpu = TimeSpan.Zero;
        foreach ((TimeSpan w, TimeSpan c, long _) in _phases.Values)
        {
            phasesWall += w;
            phasesCpu += c;
        }
        long outside;
        lock (_gate)
            outside = _outsidePeak;
        var costs = _phases.Select(p => new PhaseCost(p.Key, p.Value.Wall, p.Value.Cpu, p.Value.Peak)).ToList();
        costs.Add(new PhaseCost(QuantizationPhase.Other, Max(wall - phasesWall), Max(cpu - phasesCpu), outside));
        return [.. costs.OrderBy(c => c.Phase)];
    }

    public void Dispose()
    {
        _sampler.Dispose(); // a callback already running may still sample: Resident checks _disposed under the same lock
        lock (_process)
        {
            _disposed = true;
            _process.Dispose();
        }
    }

    private void Add(QuantizationPhase phase, TimeSpan wall, TimeSpan cpu, long peak)
    {
        (TimeSpan Wall, TimeSpan Cpu, long Peak) sum = _phases.GetValueOrDefault(phase);
        _phases[phase] = (sum.Wall + wall, sum.Cpu + cpu, Math.Max(sum.Peak, peak));
    }

    private void Sample()
    {
        long resident = Resident();
        if (resident < 0)
            return; // disposed
        lock (_gate)
        {
            if (_inside)
                _stretchPeak = Math.Max(_stretchPeak, resident);
            else
                _outsidePeak = Math.Max(_outsidePeak, resident);
        }
    }

    /// <summary>The resident memory now; −1 once disposed.</summary>
    private long Resident()
    {
        lock (_process)
        {
            if (_disposed)
                return -1;
            _process.Refresh();
            return _process.WorkingSet64;
        }
    }

    private TimeSpan Cpu()
    {
        lock (_process)
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    private static TimeSpan Max(TimeSpan t) => t < TimeSpan.Zero ? TimeSpan.Zero : t;
}
