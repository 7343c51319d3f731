namespace RwkvQuant.Scalar;

/// <summary>
/// The <see cref="ScalePrecision.Int6"/> storage: scale s = step·a with a 6-bit a ∈ [0, 63] and an FP16 step per row
/// and super-block of <see cref="SuperBlockGroups"/> groups; zero z = c·(2^b − 1)/63 with a 6-bit c. Also the fit of a
/// group onto a given step, the counterpart of <see cref="GroupGrid.Fit"/> for float precisions.
/// </summary>
internal static class Int6Scales
{
    /// <summary>Groups of a row sharing one FP16 step (the last super-block of a row may have fewer).</summary>
    public const int SuperBlockGroups = 8;

    /// <summary>Bits of one stored scale or zero.</summary>
    public const int ValueBits = 6;

    /// <summary>The largest 6-bit value.</summary>
    public const int Largest = (1 << ValueBits) - 1;

    /// <summary>Bits of one step.</summary>
    public const int StepBits = 16;

    /// <summary>Super-blocks in a row of <paramref name="groupsPerRow"/> groups.</summary>
    public static int SuperBlocks(int groupsPerRow) => (groupsPerRow + SuperBlockGroups - 1) / SuperBlockGroups;

    /// <summary>The zero that 6-bit value <paramref name="code"/> stands for with <paramref name="bits"/>-bit codes.</summary>
    public static float Zero(int code, int bits) => (float)(code * ((1 << bits) - 1)) / Largest;

    /// <summary>
    /// The step of a super-block whose groups' ideal scales (the smallest that cover each group) reach
    /// <paramref name="largestScale"/>: the smallest FP16 value with 62·step ≥ it, so every group fits with one step to
    /// spare — a scale one step above a group's ideal always leaves one of the 64 zeros inside the range that keeps both
    /// ends on the grid (so round-to-nearest keeps every weight within half a step), and GPTQ's error feedback may widen
    /// a group after its super-block's step was chosen.
    /// </summary>
    /// <exception cref="ArgumentException">The step overflows FP16.</exception>
    public static float Step(double largestScale)
    {
        float step = StoredFloat.Ceiling(Math.Max(largestScale, 0) / (Largest - 1), ScalePrecision.F16);
        if (!float.IsFinite(step))
            throw new ArgumentException($"A group scale of {largestScale} needs a super-block step beyond the range of FP16; store scales as F32.");
        return step;
    }

    /// <summary>The smallest scale that covers [min(min, 0), max(max, 0)] with <paramref name="bits"/>-bit codes (as <see cref="GroupGrid.Fit"/> would before rounding).</summary>
    public static double IdealScale(double min, double max, int bits, bool symmetric)
    {
        double low = Math.Min(min, 0), high = Math.Max(max, 0);
        if (symmetric)
        {
            int half = 1 << (bits - 1);
            return Math.Max(-low / half, high / (half - 1));
        }
        return (high - low) / ((1 << bits) - 1);
    }

    /// <summary>
    /// Fits values in [<paramref name="min"/>, <paramref name="max"/>] onto a grid whose scale is a multiple of
    /// <paramref name="step"/>: the smallest multiple that covers the range (at most 63: a wider range is clipped), and
    /// the 6-bit zero nearest the middle of the zeros that keep both ends on the grid (the scale is raised a step when
    /// none of the 64 zeros does).
    /// </summary>
    public static GroupGrid Fit(double min, double max, int bits, bool symmetric, float step)
    {
        int maxCode = (1 << bits) - 1;
        double low = Math.Min(min, 0), high = Math.Max(max, 0);
        double ideal = IdealScale(min, max, bits, symmetric);
        if (symmetric)
            return new GroupGrid(step == 0 ? 0 : step * Multiple(ideal, step), 1 << (bits - 1));
        if (high == low || step == 0)
            return new GroupGrid(0, 0);
        for (int a = Multiple(ideal, step); ; a++)
        {
            float s = step * a;
            // z keeps low on code ≥ 0 and high on code ≤ 2^b − 1: z ∈ [−low/s, 2^b − 1 − high/s].
            double zeroLow = -low / s, zeroHigh = maxCode - high / s;
            double middle = Math.Clamp((zeroLow + zeroHigh) / 2, 0, maxCode) * Largest / maxCode;
            int below = (int)Math.Floor(middle), above = Math.Min(below + 1, Largest);
            int nearer = middle - below <= above - middle ? below : above, farther = nearer == below ? above : below;
            foreach (int c in (ReadOnlySpan<int>)[nearer, farther])
            {
                float zero = Zero(c, bits);
                if (zero >= zeroLow && zero <= zeroHigh)
                    return new GroupGrid(s, zero);
            }
            if (a == Largest)
                return new GroupGrid(s, Zero(nearer, bits)); // the range is wider than 63 steps: its ends clip
        }
    }

    /// <summary>The smallest a ∈ [1, 63] with a·step ≥ <paramref name="ideal"/>.</summary>
    private static int Multiple(double ideal, float step)
    {
        double a = Math.Ceiling(ideal / step);
        // Guard the division's rounding: a·step must really cover the ideal scale, and (a − 1)·step must not.
        if (a * step < ideal)
            a++;
        else if (a > 1 && (a - 1) * step >= ideal)
            a--;
        return (int)Math.Clamp(a, 1, Largest);
    }
}
