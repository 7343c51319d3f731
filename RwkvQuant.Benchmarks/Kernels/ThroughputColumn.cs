using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace RwkvQuant.Benchmarks.Kernels;

/// <summary>A BenchmarkDotNet column: gigabytes per second of the bytes one operation reads, from the mean time.</summary>
internal sealed class ThroughputColumn(string name, Func<BenchmarkCase, double> bytesPerOperation) : IColumn
{
    public string Id => $"{nameof(ThroughputColumn)}.{ColumnName}";

    public string ColumnName { get; } = name;

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => "Bytes read per operation / mean time, in GB/s (10^9 bytes)";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        double? mean = summary[benchmarkCase]?.ResultStatistics?.Mean; // nanoseconds
        return mean is > 0 ? (bytesPerOperation(benchmarkCase) / mean.Value).ToString("0.00", CultureInfo.InvariantCulture) : "NA";
    }

    public bool IsAvailable(Summary summary) => true;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public override string ToString() => ColumnName;
}
