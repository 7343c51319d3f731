using RwkvQuant.Fuzz;

namespace RwkvQuant.Tests.Fuzz;

/// <summary>A short deterministic fuzz run over the real fixtures of every format: no defects allowed.</summary>
[Collection(QuietProcess.Name)]
public sealed class FuzzRunTests : IDisposable
{
    private const int CasesPerFormat = 200;

    private readonly string _directory = Directory.CreateTempSubdirectory("rwkvquant-fuzz-run-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [FixtureFact]
    public void The_seed_files_load_with_every_loader_of_their_format()
    {
        foreach (FuzzFormat format in FuzzFormats.All)
        {
            var runner = new CaseRunner(TimeSpan.FromSeconds(30));
            foreach (SeedFile seed in SeedFiles.Create(format, Fixtures.Directory!, Path.Combine(_directory, "seeds")))
            {
                string path = Path.Combine(_directory, "seed" + format.Extension());
                File.WriteAllBytes(path, seed.Bytes);
                CaseResult result = runner.Run(path, FuzzCampaign.LoadersFor(format));
                // The real torch.save checkpoint is an RWKV-8 ROSA demo: every tensor is read, then it is refused by name.
                FuzzOutcome expected = seed.Name.StartsWith("260123", StringComparison.Ordinal) ? FuzzOutcome.Rejected : FuzzOutcome.Loaded;
                Assert.True(result.Outcome == expected, $"{seed.Name}: {result.Outcome} in {result.Loader}: {result.Message}");
            }
        }
    }

    [FixtureFact]
    public void A_short_fixed_seed_run_of_every_format_finds_no_defect()
    {
        var campaign = new FuzzCampaign(new FuzzOptions { Cases = CasesPerFormat, Seed = 16 }, Path.Combine(_directory, "out"));
        var summaries = FuzzFormats.All
            .Select(f => campaign.Run(f, SeedFiles.Create(f, Fixtures.Directory!, Path.Combine(_directory, "seeds"))))
            .ToList();
        var table = new StringWriter();
        SummaryTable.Write(summaries, table);
        Assert.True(summaries.All(s => s.DefectCount == 0), table.ToString());
        foreach (FormatSummary summary in summaries)
        {
            Assert.Equal(CasesPerFormat, summary.Cases);
            // Most mutations are refused and some leave a valid model: both paths are exercised.
            Assert.InRange(summary.Outcomes[FuzzOutcome.Rejected], CasesPerFormat / 2, CasesPerFormat - 1);
            Assert.True(summary.Outcomes[FuzzOutcome.Loaded] > 0, table.ToString());
        }
    }
}
