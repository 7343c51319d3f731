using RwkvQuant.Kernels.Packed;
using static RwkvQuant.Scalar.KQuants.KQuantScaleSearch;

namespace RwkvQuant.Scalar.KQuants;

internal static partial class KQuantBlockQuantizer
{
    private const int Iq3sGroup = 32, Iq3sMaxLevel = 8;

    /// <summary>
    /// IQ3_S (<c>quantize_row_iq3_s_impl</c> with groups of 32): per group, the values' signs are stored apart and their
    /// magnitudes are fitted by grid points; 19 trial scales (15 ± 0.2k steps over the group's largest magnitude) round
    /// each four magnitudes to odd levels 1…15, a combination that is not a grid point is replaced by its best weighted
    /// neighbour on the grid, and the trial with the best weighted least-squares fit is kept; if one of its points came
    /// from a neighbour, the points are searched once more at the fitted scale and the scale refitted. The eight group
    /// scales are then stored as 4-bit odd multiples of max/31 (d stored ×1.033, as ggml does). Weights are
    /// importance·√(σ² + x²), σ² twice the super-block's mean square, or x² without an importance matrix.
    /// </summary>
    /// <remarks>
    /// Like ggml, a group whose values are all zero leaves its code and sign bytes unwritten and does not advance the
    /// positions where the next group's codes and signs are written (its grid bits in qh are still placed by group), so
    /// such a super-block decodes differently from its values; we keep ggml's bytes rather than correct them, since
    /// the point of this format in the library is to be llama-quantize's IQ3_S exactly.
    /// </remarks>
    private static void Iq3S(ReadOnlySpan<float> x, ReadOnlySpan<float> qw, Span<byte> y)
    {
        ReadOnlySpan<uint> grid = KQuantTypes.Iq3sGrid;
        int[] map = Iq3sSearchTables.Map;
        y.Clear();
        Span<byte> qh = y.Slice(66, 8), packedScales = y.Slice(106, 4);
        int qsAt = 2, signsAt = 74;
        Span<float> scales = stackalloc float[Super / Iq3sGroup];
        Span<float> weight = stackalloc float[Iq3sGroup], xval = stackalloc float[Iq3sGroup], waux = stackalloc float[Iq3sGroup];
        Span<sbyte> levels = stackalloc sbyte[Iq3sGroup], trial = stackalloc sbyte[Iq3sGroup];
        Span<bool> onGrid = stackalloc bool[Iq3sGroup / 4], trialOnGrid = stackalloc bool[Iq3sGroup / 4];
        Span<byte> signs = stackalloc byte[Iq3sGroup / 8];

        float maxScale = 0;
        float sigma2 = 2 * SumOfSquares(x) / Super;
        for (int ib = 0; ib < Super / Iq3sGroup; ib++)
        {
            ReadOnlySpan<float> xb = x.Slice(ib * Iq3sGroup, Iq3sGroup);
            for (int i = 0; i < Iq3sGroup; i++)
                weight[i] = qw.IsEmpty ? xb[i] * xb[i] : qw[ib * Iq3sGroup + i] * MathF.Sqrt(sigma2 + xb[i] * xb[i]);
            for (int i = 0; i < Iq3sGroup; i++)
                waux[i] = MathF.Sqrt(weight[i]);
            for (int k = 0; k < Iq3sGroup / 8; k++)
            {
                int s = 0;
                for (int i = 0; i < 8; i++)
                {
                    float v = xb[8 * k + i];
                    if (v >= 0)
                        xval[8 * k + i] = v;
                    else
                    {
                        xval[8 * k + i] = -v;
                        s |= 1 << i;
                    }
                }
                signs[k] = (byte)s;
            }
            float max = xval[0];
            for (int i = 1; i < Iq3sGroup; i++)
                max = max > xval[i] ? max : xval[i];
            levels.Clear();
            if (max == 0)
            {
                scales[ib] = 0;
                continue; // ggml's positions stay where they are (see remarks)
            }

            float best = 0, scale = max / (2 * Iq3sMaxLevel - 1);
            onGrid.Clear();
            for (int step = -9; step <= 9; step++)
            {
                float id = (2 * Iq3sMaxLevel - 1 + step * 0.2f) / max;
                float trialScale = 1 / id;
                for (int k = 0; k < Iq3sGroup / 4; k++)
                {
                    int u = 0;
                    for (int i = 0; i < 4; i++)
                    {
                        int l = Math.Clamp(NearestInt(0.5f * (id * xval[4 * k + i] - 1)), 0, Iq3sMaxLevel - 1);
                        trial[4 * k + i] = (sbyte)l;
                        u |= l << (3 * i);
                    }
                    trialOnGrid[k] = map[u] >= 0;
                    if (map[u] < 0)
                        Iq3sBestNeighbour(-map[u] - 1, xval.Slice(4 * k, 4), waux.Slice(4 * k, 4), trialScale, trial.Slice(4 * k, 4));
                }
                float sumqx = 0, sumq2 = 0;
                for (int i = 0; i < Iq3sGroup; i++)
                {
                    float w = weight[i], q = 2 * trial[i] + 1;
                    sumqx += w * xval[i] * q;
                    sumq2 += w * q * q;
                }
                if (sumq2 > 0 && sumqx * sumqx > best * sumq2)
                {
                    scale = sumqx / sumq2;
                    best = scale * sumqx;
                    trial.CopyTo(levels);
                    trialOnGrid.CopyTo(onGrid);
                }
            }
            if (onGrid.Contains(false) && scale > 0)
            {
                float id = 1 / scale;
                for (int k = 0; k < Iq3sGroup / 4; k++)
                {
                    int u = 0;
                    for (int i = 0; i < 4; i++)
                        u |= Math.Clamp(NearestInt(0.5f * (id * xval[4 * k + i] - 1)), 0, Iq3sMaxLevel - 1) << (3 * i);
                    int index = map[u] >= 0
                        ? map[u]
                        : Iq3sBestNeighbour(-map[u] - 1, xval.Slice(4 * k, 4), waux.Slice(4 * k, 4), scale, levels.Slice(4 * k, 4));
                    for (int i = 0; i < 4; i++)
                        levels[4 * k + i] = (sbyte)(((int)(grid[index] >> (8 * i) & 0xFF) - 1) / 2);
                }
                float sumqx = 0, sumq2 = 0;
                for (int i = 0; i < Iq3sGroup; i++)
                {
                    float w = weight[i], q = 2 * levels[i] + 1;
                    sumqx += w * xval[i] * q;
                    sumq2 += w * q * q;
                }
                if (sumq2 > 0)
                    scale = sumqx / sumq2;
            }
            if (scale < 0)
            {
                // ggml: "should never happen"; the scale is stored unsigned, so the signs flip instead.
                scale = -scale;
                for (int k = 0; k < signs.Length; k++)
                    signs[k] = (byte)~signs[k];
            }
            for (int k = 0; k < Iq3sGroup / 4; k++)
            {
                int u = 0;
                for (int i = 0; i < 4; i++)
                    u |= levels[4 * k + i] << (3 * i);
                int index = map[u];
                if (index < 0)
                    throw new InvalidOperationException($"IQ3_S: levels {u} of group {ib} are not a grid point (ggml aborts here too).");
                y[qsAt + k] = (byte)index;
                int g = ib * (Iq3sGroup / 4) + k;
                qh[g / 8] |= (byte)((index >> 8) << (g % 8));
            }
            qsAt += Iq3sGroup / 4;
            signs.CopyTo(y.Slice(signsAt, signs.Length));
            signsAt += signs.Length;
            scales[ib] = scale;
            maxScale = maxScale > scale ? maxScale : scale;
        }
        if (maxScale == 0)
            return;

        float d = maxScale / 31;
        WriteHalf(y, 0, d * 1.033f);
        float inverse = 1 / d;
        for (int ib = 0; ib < scales.Length; ib += 2)
        {
            int l1 = Math.Clamp(NearestInt(0.5f * (inverse * scales[ib] - 1)), 0, 15);
            int l2 = Math.Clamp(NearestInt(0.5f * (inverse * scales[ib + 1] - 1)), 0, 15);
            packedScales[ib / 2] = (byte)(l1 | l2 << 4);
        }
    }

    /// <summary>
    /// The grid point among the candidates at <paramref name="at"/> in <see cref="Iq3sSearchTables.Neighbours"/> with the
    /// least Σ w·(scale·level − x)² (ggml's <c>iq3_find_best_neighbour</c>; the first of equals); its levels' codes
    /// (level − 1)/2 go to <paramref name="codes"/>.
    /// </summary>
    private static int Iq3sBestNeighbour(int at, ReadOnlySpan<float> x, ReadOnlySpan<float> w, float scale, Span<sbyte> codes)
    {
        ReadOnlySpan<uint> grid = KQuantTypes.Iq3sGrid;
        ReadOnlySpan<ushort> neighbours = Iq3sSearchTables.Neighbours;
        int count = neighbours[at];
        float bestDistance = float.MaxValue;
        int best = -1;
        for (int j = 1; j <= count; j++)
        {
            uint point = grid[neighbours[at + j]];
            float distance = 0;
            for (int i = 0; i < 4; i++)
            {
                float q = point >> (8 * i) & 0xFF;
                float diff = scale * q - x[i];
                distance += w[i] * diff * diff;
            }
            if (distance < bestDistance)
            {
                bestDistance = distance;
                best = neighbours[at + j];
            }
        }
        for (int i = 0; i < 4; i++)
            codes[i] = (sbyte)(((int)(grid[best] >> (8 * i) & 0xFF) - 1) / 2);
        return best;
    }

    /// <summary>
    /// ggml's IQ3_S search tables (<c>iq3xs_init_impl(512)</c>), built once: for each of the 4,096 combinations of four
    /// 3-bit codes, its grid point, or −(offset + 1) of its candidate list in <see cref="Neighbours"/> — a count and
    /// then every grid point among the three nearest squared distances (levels 2·code + 1), nearest first, ties by index.
    /// </summary>
    private static class Iq3sSearchTables
    {
        public static readonly int[] Map;
        public static readonly ushort[] Neighbours;

        static Iq3sSearchTables()
        {
            const int combinations = 4096, wanted = 3;
            ReadOnlySpan<uint> grid = KQuantTypes.Iq3sGrid;
            ReadOnlySpan<ushort> codes = KQuantTypes.Iq3sGridCodes;
            Map = new int[combinations];
            Array.Fill(Map, -1);
            for (int i = 0; i < codes.Length; i++)
                Map[codes[i]] = i;
            var neighbours = new List<ushort>();
            var byDistance = new (int Distance, int Index)[grid.Length];
            for (int u = 0; u < combinations; u++)
            {
                if (Map[u] >= 0)
                    continue;
                for (int j = 0; j < grid.Length; j++)
                {
                    int distance = 0;
                    for (int k = 0; k < 4; k++)
                    {
                        int diff = (int)(grid[j] >> (8 * k) & 0xFF) - (2 * (u >> (3 * k) & 7) + 1);
                        distance += diff * diff;
                    }
                    byDistance[j] = (distance, j);
                }
                Array.Sort(byDistance);
                int start = neighbours.Count, distinct = 1, current = byDistance[0].Distance;
                Map[u] = -(start + 1);
                neighbours.Add(0);
                foreach ((int distance, int index) in byDistance)
                {
                    if (distance > current)
                    {
                        if (distinct == wanted)
                            break;
                        current = distance;
                        distinct++;
                    }
                    neighbours.Add((ushort)index);
                }
                neighbours[start] = (ushort)(neighbours.Count - start - 1);
            }
            Neighbours = [.. neighbours];
        }
    }
}
