namespace RwkvQuant.Pipeline;

/// <summary>
/// Spends a bit budget over matrices, each with candidate settings of known stored bits and estimated error, to the
/// least total error: an exact multiple-choice knapsack (dynamic programming over the budget in
/// <see cref="Units"/> steps, each candidate's bits rounded up so that the picks always fit), then a greedy pass that
/// spends the bits the rounding left on the change with the largest error reduction per extra bit. The result is never
/// worse, in total error, than the best uniform setting (the same setting key for every matrix) that fits: if one is
/// better, it is returned instead. 54 matrices × 11 settings take about 10 ms.
/// </summary>
internal static class BudgetAllocator
{
    /// <summary>Steps the budget is divided into for the knapsack; rounding costs at most one step per matrix.</summary>
    public const int Units = 20_000;

    /// <summary>One way to quantize one matrix: a key shared by the same setting across matrices, its stored bits and estimated error.</summary>
    public readonly record struct Candidate(string Key, long Bits, double Error);

    /// <summary>
    /// The index of the chosen candidate of each matrix (<paramref name="candidates"/>[m]) with Σ bits ≤
    /// <paramref name="budgetBits"/> and Σ error as low as the greedy finds.
    /// </summary>
    /// <exception cref="ArgumentException">A matrix has no candidate, or even the cheapest candidates exceed the budget.</exception>
    public static int[] Allocate(IReadOnlyList<IReadOnlyList<Candidate>> candidates, long budgetBits)
    {
        int matrices = candidates.Count;
        var picks = new int[matrices];
        long total = 0;
        for (int m = 0; m < matrices; m++)
        {
            if (candidates[m].Count == 0)
                throw new ArgumentException($"Matrix {m} has no candidate setting.", nameof(candidates));
            picks[m] = Cheapest(candidates[m]);
            total += candidates[m][picks[m]].Bits;
        }
        if (total > budgetBits)
            throw new ArgumentException($"The cheapest settings take {total} bits, more than the budget of {budgetBits}.", nameof(budgetBits));

        // Phase 1: an exact multiple-choice knapsack over bits rounded up to Units steps of the budget (so whatever it
        // picks fits the real budget); the rounding leaves at most one unit per matrix unspent, which phase 2 spends.
        long unit = Math.Max(1, (budgetBits + Units - 1) / Units);
        int capacity = (int)Math.Min(Units, budgetBits / unit);
        var least = new double[capacity + 1];
        var choice = new short[matrices, capacity + 1];
        for (int m = 0; m < matrices; m++)
        {
            var next = new double[capacity + 1];
            Array.Fill(next, double.PositiveInfinity);
            IReadOnlyList<Candidate> list = candidates[m];
            for (int c = 0; c < list.Count; c++)
            {
                long cost = (list[c].Bits + unit - 1) / unit;
                if (cost > capacity)
                    continue;
                for (int b = (int)cost; b <= capacity; b++)
                {
                    double error = least[b - cost] + list[c].Error;
                    if (error < next[b])
                    {
                        next[b] = error;
                        choice[m, b] = (short)c;
                    }
                }
            }
            least = next;
        }
        if (!double.IsPositiveInfinity(least[capacity]))
        {
            for (int m = matrices - 1, b = capacity; m >= 0; m--)
            {
                picks[m] = choice[m, b];
                b -= (int)((candidates[m][picks[m]].Bits + unit - 1) / unit);
            }
            total = Enumerable.Range(0, matrices).Sum(m => candidates[m][picks[m]].Bits);
        }

        // Phase 2: the leftover bits, on any candidate (hull or not) that lowers a matrix's error and fits.
        while (true)
        {
            (int m, int c, double slope) best = (-1, -1, 0);
            for (int m = 0; m < matrices; m++)
            {
                Candidate current = candidates[m][picks[m]];
                for (int c = 0; c < candidates[m].Count; c++)
                {
                    Candidate option = candidates[m][c];
                    long extra = option.Bits - current.Bits;
                    if (option.Error >= current.Error || total + extra > budgetBits)
                        continue;
                    double slope = extra <= 0 ? double.PositiveInfinity : (current.Error - option.Error) / extra;
                    if (slope > best.slope)
                        best = (m, c, slope);
                }
            }
            if (best.m < 0)
                break;
            total += candidates[best.m][best.c].Bits - candidates[best.m][picks[best.m]].Bits;
            picks[best.m] = best.c;
        }

        // Never worse than a uniform setting that fits.
        double allocated = Enumerable.Range(0, matrices).Sum(m => candidates[m][picks[m]].Error);
        foreach (string key in candidates[0].Select(c => c.Key).Distinct())
        {
            int[] uniform = [.. candidates.Select(list => IndexOf(list, key))];
            if (uniform.Any(i => i < 0))
                continue;
            long bits = Enumerable.Range(0, matrices).Sum(m => candidates[m][uniform[m]].Bits);
            double error = Enumerable.Range(0, matrices).Sum(m => candidates[m][uniform[m]].Error);
            if (bits <= budgetBits && error < allocated)
            {
                picks = uniform;
                allocated = error;
            }
        }
        return picks;
    }

    private static int IndexOf(IReadOnlyList<Candidate> list, string key)
    {
        for (int i = 0; i < list.Count; i++)
        {
            if (list[i].Key == key)
                return i;
        }
        return -1;
    }

    /// <summary>The cheapest candidate, the lower error among equally cheap ones.</summary>
    private static int Cheapest(IReadOnlyList<Candidate> list)
    {
        int best = 0;
        for (int i = 1; i < list.Count; i++)
        {
            if (list[i].Bits < list[best].Bits || (list[i].Bits == list[best].Bits && list[i].Error < list[best].Error))
                best = i;
        }
        return best;
    }

}
