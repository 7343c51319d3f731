namespace RwkvQuant.Cli;

/// <summary>An <see cref="IProgress{T}"/> that calls back on the reporting thread, in order (<see cref="Progress{T}"/>
/// would post each report to the thread pool, out of order and after the work may have finished).</summary>
internal sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
