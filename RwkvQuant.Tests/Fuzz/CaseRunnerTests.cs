using RwkvQuant.Fuzz;

namespace RwkvQuant.Tests.Fuzz;

/// <summary>How the fuzzer classifies a load: fake loaders stand for readers that behave and misbehave.</summary>
[Collection(QuietProcess.Name)]
public sealed class CaseRunnerTests : IDisposable
{
    private readonly string _path = Path.Combine(Directory.CreateTempSubdirectory("rwkvquant-fuzz-runner-").FullName, "case.bin");

    public CaseRunnerTests() => File.WriteAllBytes(_path, new byte[100]);

    public void Dispose() => Directory.Delete(Path.GetDirectoryName(_path)!, recursive: true);

    private CaseResult Run(Action<string> load, double timeoutSeconds = 10) =>
        new CaseRunner(TimeSpan.FromSeconds(timeoutSeconds)).Run(_path, [new FuzzLoader("fake", load)]);

    [Fact]
    public void A_load_that_returns_is_loaded()
    {
        CaseResult result = Run(_ => { });
        Assert.Equal(FuzzOutcome.Loaded, result.Outcome);
        Assert.False(result.Outcome.IsDefect());
    }

    [Fact]
    public void An_InvalidDataException_naming_the_file_is_a_refusal_not_a_defect()
    {
        CaseResult result = Run(path => throw new InvalidDataException($"{path}: tensor 'x': bad."));
        Assert.Equal(FuzzOutcome.Rejected, result.Outcome);
        Assert.False(result.Outcome.IsDefect());
    }

    [Fact]
    public void An_InvalidDataException_that_does_not_name_the_file_is_a_defect()
    {
        CaseResult result = Run(_ => throw new InvalidDataException("End of Central Directory record could not be found."));
        Assert.Equal(FuzzOutcome.RejectedWithoutPath, result.Outcome);
        Assert.True(result.Outcome.IsDefect());
        Assert.Equal("System.IO.InvalidDataException", result.ExceptionType);
    }

    [Theory]
    [InlineData(typeof(InvalidOperationException))]
    [InlineData(typeof(ArgumentOutOfRangeException))]
    [InlineData(typeof(IndexOutOfRangeException))]
    [InlineData(typeof(OverflowException))]
    [InlineData(typeof(EndOfStreamException))]
    public void Any_other_exception_type_is_a_defect_with_its_type_message_and_stack(Type type)
    {
        CaseResult result = Run(path => throw (Exception)Activator.CreateInstance(type, $"{path}: broken")!);
        Assert.Equal(FuzzOutcome.OtherException, result.Outcome);
        Assert.Equal(type.FullName, result.ExceptionType);
        Assert.Contains("broken", result.Message, StringComparison.Ordinal);
        Assert.Contains(nameof(CaseRunnerTests), result.StackTop, StringComparison.Ordinal);
    }

    [Fact]
    public void A_load_past_the_timeout_is_a_hang_and_the_runner_goes_on()
    {
        using var release = new ManualResetEventSlim();
        var runner = new CaseRunner(TimeSpan.FromMilliseconds(200));
        CaseResult hung = runner.Run(_path, [new FuzzLoader("stuck", _ => release.Wait())]);
        Assert.Equal(FuzzOutcome.Hang, hung.Outcome);
        release.Set();
        Assert.Equal(FuzzOutcome.Loaded, runner.Run(_path, [new FuzzLoader("fine", _ => { })]).Outcome);
    }

    [Fact]
    public void A_load_that_allocates_beyond_the_bound_is_a_defect_even_when_it_refuses_the_file()
    {
        long bound = CaseRunner.AllocationBound(100);
        Assert.Equal(64 * 100 + (64L << 20), bound);
        void Allocate()
        {
            var chunks = new List<byte[]>();
            for (long taken = 0; taken <= bound; taken += 1 << 20)
                chunks.Add(new byte[1 << 20]);
            GC.KeepAlive(chunks);
        }
        Assert.Equal(FuzzOutcome.OverAllocation, Run(_ => Allocate()).Outcome);
        Assert.Equal(FuzzOutcome.OverAllocation, Run(path => { Allocate(); throw new InvalidDataException(path + ": bad"); }).Outcome);
    }

    [Fact]
    public void The_first_defect_among_several_loaders_decides()
    {
        var runner = new CaseRunner(TimeSpan.FromSeconds(10));
        CaseResult result = runner.Run(_path,
        [
            new FuzzLoader("refuses", path => throw new InvalidDataException(path + ": bad")),
            new FuzzLoader("crashes", _ => throw new InvalidCastException()),
        ]);
        Assert.Equal(FuzzOutcome.OtherException, result.Outcome);
        Assert.Equal("crashes", result.Loader);
        Assert.Equal(FuzzOutcome.Rejected, runner.Run(_path, [new FuzzLoader("loads", _ => { }), new FuzzLoader("refuses", path => throw new InvalidDataException(path + ": bad"))]).Outcome);
    }
}
