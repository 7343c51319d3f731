namespace RwkvQuant.Fuzz;

/// <summary>One defect: the case, its mutation and result, and where its file was saved for reproduction.</summary>
public sealed record FuzzDefect(int Case, string SeedName, Mutation Mutation, CaseResult Result, string? SavedFile);

/// <summary>The outcome of fuzzing one format: cases per outcome, per mutation kind, the defects, and the time taken.</summary>
public sealed class FormatSummary(FuzzFormat format, IReadOnlyList<string> seeds)
{
    private readonly Dictionary<FuzzOutcome, int> _outcomes = Enum.GetValues<FuzzOutcome>().ToDictionary(o => o, _ => 0);
    private readonly SortedDictionary<string, Dictionary<FuzzOutcome, int>> _kinds = new(StringComparer.Ordinal);
    private readonly List<FuzzDefect> _defects = [];

    /// <summary>The format.</summary>
    public FuzzFormat Format { get; } = format;

    /// <summary>The seed files' names.</summary>
    public IReadOnlyList<string> Seeds { get; } = seeds;

    /// <summary>Cases run.</summary>
    public int Cases { get; private set; }

    /// <summary>Cases per outcome.</summary>
    public IReadOnlyDictionary<FuzzOutcome, int> Outcomes => _outcomes;

    /// <summary>Cases per mutation kind and outcome.</summary>
    public IReadOnlyDictionary<string, Dictionary<FuzzOutcome, int>> Kinds => _kinds;

    /// <summary>The defects, in case order.</summary>
    public IReadOnlyList<FuzzDefect> Defects => _defects;

    /// <summary>The largest allocation of a case relative to its bound (<see cref="CaseRunner.AllocationBound"/>).</summary>
    public double MaxAllocationToBound { get; private set; }

    /// <summary>Wall time of the cases (mutation, writing and loading).</summary>
    public TimeSpan Wall { get; internal set; }

    /// <summary>Processor time of the process over the cases (all threads).</summary>
    public TimeSpan Cpu { get; internal set; }

    /// <summary>Number of defect cases.</summary>
    public int DefectCount => _defects.Count;

    internal void Add(MutatedFile file, CaseResult result, long fileLength)
    {
        Cases++;
        _outcomes[result.Outcome]++;
        if (!_kinds.TryGetValue(file.Mutation.Kind, out Dictionary<FuzzOutcome, int>? kind))
            _kinds[file.Mutation.Kind] = kind = Enum.GetValues<FuzzOutcome>().ToDictionary(o => o, _ => 0);
        kind[result.Outcome]++;
        MaxAllocationToBound = Math.Max(MaxAllocationToBound, result.AllocatedBytes / (double)CaseRunner.AllocationBound(fileLength));
    }

    internal void AddDefect(FuzzDefect defect) => _defects.Add(defect);
}
