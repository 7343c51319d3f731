namespace RwkvQuant.Scalar.KQuants;

/// <summary>
/// The scale searches of llama.cpp's k-quants (ggml-quants.c's <c>make_qx_quants</c>, <c>make_q3_quants</c>,
/// <c>make_qkx2_quants</c>, <c>make_qkx3_quants</c>, <c>make_qp_quants</c> and the IQ4 search), written to do exactly
/// their float32 operations in their order so that the blocks come out byte for byte as ggml's (built without FMA
/// contraction). Each fits one small group of n values x with weights w: codes L and a scale (and for the asymmetric
/// ones a minimum) that minimise Σ w·(x − scale·L [+ min])² or a close relative, by trying a few grids around the
/// min/max one and keeping the least-squares scale of the best.
/// </summary>
/// <remarks>
/// C evaluates <c>a*b*c</c> as <c>(a*b)*c</c> in float32, converts int operands to float32 first, and the build the
/// test vectors come from contracts nothing into a fused multiply-add; .NET neither reassociates nor contracts, so
/// writing the same expressions gives the same bits. <see cref="NearestInt"/> copies ggml's magic-number rounding,
/// including what it does outside its ±2²² range (clamped afterwards by every caller).
/// </remarks>
internal static class KQuantScaleSearch
{
    /// <summary>ggml's GROUP_MAX_EPS: a group whose largest magnitude is below it is all zero.</summary>
    public const float GroupMaxEps = 1e-15f;

    /// <summary>ggml's <c>nearest_int</c>: round half to even through the float32 sum with 1.5·2²³.</summary>
    public static int NearestInt(float value)
    {
        float biased = value + 12582912f;
        return (BitConverter.SingleToInt32Bits(biased) & 0x007FFFFF) - 0x00400000;
    }

    /// <summary>
    /// Symmetric codes L ∈ [0, 2·nmax) (stored as l + nmax, l ∈ [−nmax, nmax)) for x with weights <paramref name="weights"/>:
    /// the grid through the value of largest magnitude, then 18 grids of nmax ± 0.1…0.9 levels, keeping the one with the
    /// largest (Σ w·x·l)²/Σ w·l² and returning its least-squares scale (<c>make_qx_quants</c>, rmse_type 1 with weights).
    /// </summary>
    public static float Symmetric(int nmax, ReadOnlySpan<float> x, Span<sbyte> codes, ReadOnlySpan<float> weights)
    {
        int n = x.Length;
        float max = SignedMaximum(x, out float amax);
        if (amax < GroupMaxEps)
        {
            codes[..n].Clear();
            return 0f;
        }
        float iscale = -nmax / max;
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++)
        {
            int l = Math.Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1);
            codes[i] = (sbyte)(l + nmax);
            float w = weights[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0f;
        float best = scale * sumlx;
        for (int step = -9; step <= 9; step++)
        {
            if (step == 0)
                continue;
            iscale = -(nmax + 0.1f * step) / max;
            sumlx = suml2 = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1);
                float w = weights[i];
                sumlx += w * x[i] * l;
                suml2 += w * l * l;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2)
            {
                for (int i = 0; i < n; i++)
                    codes[i] = (sbyte)(nmax + Math.Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1));
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    /// <summary>
    /// Q3_K's search without an importance matrix (<c>make_q3_quants</c> with do_rmse): weights x², the min/max grid, then
    /// up to five passes that move single codes where that raises (Σ w·x·l)²/Σ w·l². Codes stored as l + nmax.
    /// </summary>
    public static float Q3(int nmax, ReadOnlySpan<float> x, Span<sbyte> codes)
    {
        int n = x.Length;
        float max = SignedMaximum(x, out float amax);
        if (amax < GroupMaxEps)
        {
            codes[..n].Clear();
            return 0f;
        }
        float iscale = -nmax / max;
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++)
        {
            int l = Math.Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1);
            codes[i] = (sbyte)l;
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        for (int pass = 0; pass < 5; pass++)
        {
            int changed = 0;
            for (int i = 0; i < n; i++)
            {
                float w = x[i] * x[i];
                float slx = sumlx - w * x[i] * codes[i];
                if (slx > 0)
                {
                    float sl2 = suml2 - w * codes[i] * codes[i];
                    int newL = Math.Clamp(NearestInt(x[i] * sl2 / slx), -nmax, nmax - 1);
                    if (newL != codes[i])
                    {
                        slx += w * x[i] * newL;
                        sl2 += w * newL * newL;
                        if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2)
                        {
                            codes[i] = (sbyte)newL;
                            sumlx = slx;
                            suml2 = sl2;
                            changed++;
                        }
                    }
                }
            }
            if (changed == 0)
                break;
        }
        for (int i = 0; i < n; i++)
            codes[i] = (sbyte)(codes[i] + nmax);
        return suml2 > 0f ? sumlx / suml2 : 0f;
    }

    /// <summary>
    /// Asymmetric codes L ∈ [0, nmax] with x ≈ scale·L − theMin (theMin ≥ 0: the minimum is never above zero): the min/max
    /// grid, then grids of nmax + rmin + rdelta·k levels (k = 0…steps), each with the weighted least-squares scale and
    /// minimum, keeping the least Σ w·|error| (<paramref name="absolute"/>) or Σ w·error². ggml's <c>make_qkx2_quants</c>
    /// and, with <paramref name="weights"/> possibly empty (then x²) and a ≤ test for a flat group, <c>make_qkx3_quants</c>.
    /// </summary>
    public static float Asymmetric(int nmax, ReadOnlySpan<float> x, ReadOnlySpan<float> weights, Span<byte> codes, out float theMin,
        Span<byte> scratch, float rmin, float rdelta, int steps, bool absolute, bool flatIsLessOrEqual)
    {
        int n = x.Length;
        bool weighted = !weights.IsEmpty;
        float min = x[0], max = x[0];
        float sumW = weighted ? weights[0] : x[0] * x[0];
        float sumX = sumW * x[0];
        for (int i = 1; i < n; i++)
        {
            if (x[i] < min)
                min = x[i];
            if (x[i] > max)
                max = x[i];
            float w = weighted ? weights[i] : x[i] * x[i];
            sumW += w;
            sumX += w * x[i];
        }
        if (min > 0)
            min = 0;
        if (flatIsLessOrEqual ? max <= min : max == min)
        {
            codes[..n].Clear();
            theMin = -min;
            return 0f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++)
        {
            int l = NearestInt(iscale * (x[i] - min));
            codes[i] = (byte)Math.Clamp(l, 0, nmax);
            float diff = scale * codes[i] + min - x[i];
            diff = absolute ? MathF.Abs(diff) : diff * diff;
            float w = weighted ? weights[i] : x[i] * x[i];
            bestError += w * diff;
        }
        if (steps < 1)
        {
            theMin = -min;
            return scale;
        }
        for (int step = 0; step <= steps; step++)
        {
            iscale = (rmin + rdelta * step + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXL = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Clamp(NearestInt(iscale * (x[i] - min)), 0, nmax);
                scratch[i] = (byte)l;
                float w = weighted ? weights[i] : x[i] * x[i];
                sumL += w * l;
                sumL2 += w * l * l;
                sumXL += w * l * x[i];
            }
            float det = sumW * sumL2 - sumL * sumL;
            if (det > 0)
            {
                float thisScale = (sumW * sumXL - sumX * sumL) / det;
                float thisMin = (sumL2 * sumX - sumL * sumXL) / det;
                if (thisMin > 0)
                {
                    thisMin = 0;
                    thisScale = sumXL / sumL2;
                }
                float error = 0;
                for (int i = 0; i < n; i++)
                {
                    float diff = thisScale * scratch[i] + thisMin - x[i];
                    diff = absolute ? MathF.Abs(diff) : diff * diff;
                    float w = weighted ? weights[i] : x[i] * x[i];
                    error += w * diff;
                }
                if (error < bestError)
                {
                    scratch[..n].CopyTo(codes);
                    bestError = error;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        theMin = -min;
        return scale;
    }

    /// <summary>
    /// Non-negative codes L ∈ [0, nmax] for non-negative x (a super-block's sub-block scales or minimums) with weights
    /// <paramref name="weights"/>: the best of nine grids around the max one by weighted squared error, then up to five
    /// passes moving single codes (<c>make_qp_quants</c>). Returns the least-squares scale.
    /// </summary>
    public static float Positive(int nmax, ReadOnlySpan<float> x, Span<byte> codes, ReadOnlySpan<float> weights)
    {
        int n = x.Length;
        float max = 0;
        for (int i = 0; i < n; i++)
            max = Math.Max(max, x[i]);
        if (max < GroupMaxEps)
        {
            codes[..n].Clear();
            return 0f;
        }
        float iscale = nmax / max;
        for (int i = 0; i < n; i++)
            codes[i] = (byte)NearestInt(iscale * x[i]);
        float scale = 1 / iscale;
        float bestMse = 0;
        for (int i = 0; i < n; i++)
        {
            float diff = x[i] - scale * codes[i];
            bestMse += weights[i] * diff * diff;
        }
        for (int step = -4; step <= 4; step++)
        {
            if (step == 0)
                continue;
            float iscaleStep = (0.1f * step + nmax) / max;
            float scaleStep = 1 / iscaleStep;
            float mse = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Min(nmax, NearestInt(iscaleStep * x[i]));
                float diff = x[i] - scaleStep * l;
                mse += weights[i] * diff * diff;
            }
            if (mse < bestMse)
            {
                bestMse = mse;
                iscale = iscaleStep;
            }
        }
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++)
        {
            int l = Math.Min(nmax, NearestInt(iscale * x[i]));
            codes[i] = (byte)l;
            float w = weights[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        for (int pass = 0; pass < 5; pass++)
        {
            int changed = 0;
            for (int i = 0; i < n; i++)
            {
                float w = weights[i];
                float slx = sumlx - w * x[i] * codes[i];
                float sl2 = suml2 - w * codes[i] * codes[i];
                if (slx > 0 && sl2 > 0)
                {
                    int newL = Math.Min(nmax, NearestInt(x[i] * sl2 / slx));
                    if (newL != codes[i])
                    {
                        slx += w * x[i] * newL;
                        sl2 += w * newL * newL;
                        if (slx * slx * suml2 > sumlx * sumlx * sl2)
                        {
                            codes[i] = (byte)newL;
                            sumlx = slx;
                            suml2 = sl2;
                            changed++;
                        }
                    }
                }
            }
            if (changed == 0)
                break;
        }
        return suml2 > 0f ? sumlx / suml2 : 0f;
    }

    /// <summary>The first value of largest magnitude, sign kept, and that magnitude (0 and 0 for an all-zero group).</summary>
    public static float SignedMaximum(ReadOnlySpan<float> x, out float amax)
    {
        float max = 0;
        amax = 0;
        foreach (float v in x)
        {
            float ax = MathF.Abs(v);
            if (ax > amax)
            {
                amax = ax;
                max = v;
            }
        }
        return max;
    }

    /// <summary>The index of the level of <paramref name="levels"/> (ascending) nearest <paramref name="x"/>, ties to the upper (ggml's <c>best_index_int8</c>).</summary>
    public static int NearestLevel(ReadOnlySpan<sbyte> levels, float x)
    {
        int n = levels.Length;
        if (x <= levels[0])
            return 0;
        if (x >= levels[n - 1])
            return n - 1;
        int lower = 0, upper = n - 1;
        while (upper - lower > 1)
        {
            int middle = (lower + upper) / 2;
            if (x < levels[middle])
                upper = middle;
            else
                lower = middle;
        }
        return x - levels[upper - 1] < levels[upper] - x ? upper - 1 : upper;
    }
}
