using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace RwkvQuant.Benchmarks.Kernels.KMeans;

/// <summary>
/// A column of work done per second: the work of one operation (read from the case's parameters) over its mean time,
/// e.g. distance evaluations per second (n·k / t) or tokens per second (T / t).
/// </summary>
internal sealed class WorkPerSecondColumn(string name, Func<BenchmarkCase, double> workPerOperation) : IColumn
{
    public string Id => nameof(WorkPerSecondColumn) + "." + name;

    public string ColumnName => name;

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => $"{name}: work per operation divided by the mean time";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        double? nanoseconds = summary[benchmarkCase]?.ResultStatistics?.Mean;
        if (nanoseconds is not > 0)
            return "NA";
        double perSecond = workPerOperation(benchmarkCase) / (nanoseconds.Value * 1e-9);
        return perSecond switch
        {
            >= 1e9 => $"{perSecond / 1e9:F2} G",
            >= 1e6 => $"{perSecond / 1e6:F2} M",
            >= 1e3 => $"{perSecond / 1e3:F2} k",
            _ => $"{perSecond:F1}",
        };
    }

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public bool IsAvailable(Summary summary) => true;

    /// <summary>A parameter's value as a number.</summary>
    public static double Parameter(BenchmarkCase benchmarkCase, string parameter) =>
        Convert.ToDouble(benchmarkCase.Parameters[parameter], System.Globalization.CultureInfo.InvariantCulture);
}
