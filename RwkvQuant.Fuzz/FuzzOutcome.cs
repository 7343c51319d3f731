namespace RwkvQuant.Fuzz;

/// <summary>How a reader took one mutated file.</summary>
public enum FuzzOutcome
{
    /// <summary>The file loaded: the mutation left a valid model (possibly with other weights, even non-finite ones).</summary>
    Loaded,
    /// <summary>An <see cref="InvalidDataException"/> whose message names the file: the reader's contract.</summary>
    Rejected,
    /// <summary>Defect: an <see cref="InvalidDataException"/> whose message does not name the file.</summary>
    RejectedWithoutPath,
    /// <summary>Defect: any other exception type.</summary>
    OtherException,
    /// <summary>Defect: the load did not finish within the case timeout.</summary>
    Hang,
    /// <summary>Defect: the load allocated more managed memory than the bound (see <see cref="CaseRunner.AllocationBound"/>).</summary>
    OverAllocation,
}

/// <summary>Which outcomes are defects.</summary>
public static class FuzzOutcomes
{
    /// <summary>True for every outcome but <see cref="FuzzOutcome.Loaded"/> and <see cref="FuzzOutcome.Rejected"/>.</summary>
    public static bool IsDefect(this FuzzOutcome outcome) => outcome is not (FuzzOutcome.Loaded or FuzzOutcome.Rejected);
}

/// <summary>The result of one case: the outcome, which loader gave it, and for a defect the exception's type, message
/// and the top of its stack.</summary>
/// <param name="Outcome">How the file was taken (the first loader that did not load decides).</param>
/// <param name="Loader">The loader that gave the outcome.</param>
/// <param name="AllocatedBytes">Managed bytes the case's loads allocated, summed over loaders.</param>
/// <param name="Elapsed">Wall time of the case's loads.</param>
/// <param name="ExceptionType">The exception's type name, if one was thrown.</param>
/// <param name="Message">Its message (or the hang / allocation description).</param>
/// <param name="StackTop">The first frames of its stack.</param>
public sealed record CaseResult(
    FuzzOutcome Outcome, string Loader, long AllocatedBytes, TimeSpan Elapsed,
    string? ExceptionType = null, string? Message = null, string? StackTop = null);
