using RwkvQuant.Pipeline;
using Candidate = RwkvQuant.Pipeline.BudgetAllocator.Candidate;

namespace RwkvQuant.Tests.Pipeline;

public class BudgetAllocatorTests
{
    private static readonly string[] Keys = ["a2", "a3 g128", "a3 g64", "a3 g32", "a4 g64", "vq"];

    /// <summary>Random matrices: sizes 1–20 k weights, six settings with bits per weight 2.9–4.4 and errors that fall
    /// with bits at a per-matrix sensitivity, with noise (so hulls are not all convex and some settings are dominated).</summary>
    private static List<IReadOnlyList<Candidate>> Instance(int matrices, int seed)
    {
        var random = new Random(seed);
        double[] bitsPerWeight = [2.9, 3.1, 3.25, 3.44, 4.2, 3.6];
        var list = new List<IReadOnlyList<Candidate>>();
        for (int m = 0; m < matrices; m++)
        {
            long size = random.Next(1_000, 20_000);
            double sensitivity = Math.Exp(3 * random.NextDouble());
            list.Add([.. Keys.Select((k, i) => new Candidate(k, (long)(bitsPerWeight[i] * size),
                sensitivity * size * Math.Pow(2, -2 * bitsPerWeight[i]) * (0.7 + 0.6 * random.NextDouble())))]);
        }
        return list;
    }

    private static (long Bits, double Error) Total(List<IReadOnlyList<Candidate>> c, int[] picks) =>
        (Enumerable.Range(0, c.Count).Sum(m => c[m][picks[m]].Bits), Enumerable.Range(0, c.Count).Sum(m => c[m][picks[m]].Error));

    [Theory]
    [InlineData(1, 3.0)]
    [InlineData(2, 3.25)]
    [InlineData(3, 3.5)]
    [InlineData(4, 3.7)]
    public void Allocations_fit_the_budget_and_beat_every_uniform_setting_that_fits(int seed, double bitsPerWeight)
    {
        List<IReadOnlyList<Candidate>> c = Instance(40, seed);
        long weights = c.Sum(list => list.Single(x => x.Key == "a3 g64").Bits) * 100 / 325; // 3.25 bpw per weight
        long budget = (long)(bitsPerWeight * weights);
        int[] picks = BudgetAllocator.Allocate(c, budget);
        (long bits, double error) = Total(c, picks);
        Assert.True(bits <= budget, $"{bits} > {budget}");
        int fitting = 0;
        foreach (string key in Keys)
        {
            int[] uniform = [.. c.Select(list => list.ToList().FindIndex(x => x.Key == key))];
            (long ub, double ue) = Total(c, uniform);
            if (ub > budget)
                continue;
            fitting++;
            Assert.True(error <= ue, $"{key}: uniform error {ue:E4} below the allocation's {error:E4}");
        }
        Assert.True(fitting > 0);
    }

    [Fact]
    public void No_single_change_that_fits_lowers_the_error()
    {
        List<IReadOnlyList<Candidate>> c = Instance(25, 7);
        long budget = c.Sum(list => list[3].Bits);
        int[] picks = BudgetAllocator.Allocate(c, budget);
        (long bits, _) = Total(c, picks);
        for (int m = 0; m < c.Count; m++)
        {
            for (int k = 0; k < c[m].Count; k++)
            {
                if (bits - c[m][picks[m]].Bits + c[m][k].Bits <= budget)
                    Assert.True(c[m][k].Error >= c[m][picks[m]].Error, $"matrix {m}: setting {c[m][k].Key} fits and lowers the error");
            }
        }
    }

    [Fact]
    public void The_allocation_is_within_2_percent_of_the_optimum_on_small_instances()
    {
        // Brute force over 6^5 assignments: the knapsack on rounded bits (plus the leftover pass) is within 2% of the best that fits.
        for (int seed = 0; seed < 10; seed++)
        {
            List<IReadOnlyList<Candidate>> c = Instance(5, seed + 10);
            long budget = c.Sum(list => list[2].Bits);
            (_, double allocated) = Total(c, BudgetAllocator.Allocate(c, budget));
            double best = double.PositiveInfinity;
            int combos = (int)Math.Pow(6, 5);
            var picks = new int[5];
            for (int i = 0; i < combos; i++)
            {
                for (int m = 0, v = i; m < 5; m++, v /= 6)
                    picks[m] = v % 6;
                (long b, double e) = Total(c, picks);
                if (b <= budget)
                    best = Math.Min(best, e);
            }
            Assert.True(allocated <= 1.02 * best, $"seed {seed}: allocated {allocated:E4}, optimum {best:E4}");
        }
    }

    [Fact]
    public void A_generous_budget_takes_each_matrixs_least_error_and_a_tight_one_the_cheapest()
    {
        List<IReadOnlyList<Candidate>> c = Instance(10, 3);
        int[] rich = BudgetAllocator.Allocate(c, long.MaxValue / 2);
        for (int m = 0; m < c.Count; m++)
            Assert.Equal(c[m].Min(x => x.Error), c[m][rich[m]].Error);
        long cheapest = c.Sum(list => list.Min(x => x.Bits));
        int[] tight = BudgetAllocator.Allocate(c, cheapest);
        Assert.Equal(cheapest, Total(c, tight).Bits);
        Assert.Throws<ArgumentException>(() => BudgetAllocator.Allocate(c, cheapest - 1));
        Assert.Throws<ArgumentException>(() => BudgetAllocator.Allocate([[]], 100));
    }
}
