namespace RwkvQuant.Vector.KMeans;

internal static partial class KMeans
{
    /// <summary>Mahalanobis initialisation (see <see cref="KMeansInitialization.Mahalanobis"/>); returns <c>[k, d]</c>.</summary>
    public static double[] InitializeMahalanobis(ReadOnlySpan<float> points, int dimension, int clusters)
    {
        int n = points.Length / dimension;
        var mean = new double[dimension];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < dimension; j++)
                mean[j] += points[i * dimension + j];
        for (int j = 0; j < dimension; j++)
            mean[j] /= n;
        var covariance = new double[dimension * dimension];
        for (int i = 0; i < n; i++)
            for (int a = 0; a < dimension; a++)
                for (int b = 0; b < dimension; b++)
                    covariance[a * dimension + b] += (points[i * dimension + a] - mean[a]) * (points[i * dimension + b] - mean[b]);
        double[] precision = InvertWithRidge(covariance, dimension);
        var keys = new double[n];
        var order = new int[n];
        var centered = new double[dimension];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < dimension; j++)
                centered[j] = points[i * dimension + j] - mean[j];
            double distance = 0;
            for (int a = 0; a < dimension; a++)
                for (int b = 0; b < dimension; b++)
                    distance += centered[a] * precision[a * dimension + b] * centered[b];
            keys[i] = distance;
            order[i] = i;
        }
        Array.Sort(order, (a, b) => keys[a] != keys[b] ? keys[a].CompareTo(keys[b]) : a.CompareTo(b));
        var centroids = new double[clusters * dimension];
        for (int c = 0; c < clusters; c++)
        {
            int rank = clusters == 1 ? 0 : (int)Math.Round((double)c * (n - 1) / (clusters - 1), MidpointRounding.ToEven);
            for (int j = 0; j < dimension; j++)
                centroids[c * dimension + j] = points[order[rank] * dimension + j];
        }
        return centroids;
    }

    /// <summary>k-means++ seeding with weighted D² sampling from a generator seeded by <paramref name="seed"/>.</summary>
    public static double[] InitializeKMeansPlusPlus(ReadOnlySpan<float> points, int dimension, int clusters, ReadOnlySpan<float> weights, ulong seed)
    {
        int n = points.Length / dimension;
        var random = new Random(unchecked((int)Mix(seed)));
        var centroids = new double[clusters * dimension];
        var nearest = new double[n];
        var mass = new double[n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < dimension; j++)
                mass[i] += Weight(weights, points.Length, i, j, dimension);
        int first = Sample(mass, random);
        for (int j = 0; j < dimension; j++)
            centroids[j] = points[first * dimension + j];
        for (int i = 0; i < n; i++)
            nearest[i] = WeightedDistance(points, i, dimension, centroids, 0, weights);
        for (int c = 1; c < clusters; c++)
        {
            int chosen = Sample(nearest, random);
            for (int j = 0; j < dimension; j++)
                centroids[c * dimension + j] = points[chosen * dimension + j];
            for (int i = 0; i < n; i++)
                nearest[i] = Math.Min(nearest[i], WeightedDistance(points, i, dimension, centroids, c, weights));
        }
        return centroids;
    }

    /// <summary>SplitMix64 of <paramref name="value"/>: derives independent per-group seeds from one seed.</summary>
    public static ulong Mix(ulong value)
    {
        value += 0x9E3779B97F4A7C15UL;
        value = (value ^ (value >> 30)) * 0xBF58476D1CE4E5B9UL;
        value = (value ^ (value >> 27)) * 0x94D049BB133111EBUL;
        return value ^ (value >> 31);
    }

    private static int Sample(double[] mass, Random random)
    {
        double total = 0;
        foreach (double value in mass)
            total += value;
        if (!(total > 0))
            return random.Next(mass.Length);
        double target = random.NextDouble() * total;
        double cumulative = 0;
        for (int i = 0; i < mass.Length; i++)
        {
            cumulative += mass[i];
            if (cumulative > target && mass[i] > 0)
                return i;
        }
        for (int i = mass.Length - 1; i >= 0; i--)
        {
            if (mass[i] > 0)
                return i;
        }
        return 0;
    }

    private static double[] InvertWithRidge(double[] matrix, int size)
    {
        double trace = 0;
        for (int i = 0; i < size; i++)
            trace += matrix[i * size + i];
        var a = (double[])matrix.Clone();
        var inverse = new double[size * size];
        if (!(trace > 0))
            return inverse; // all points equal: every distance is 0, the order is the index order
        for (int i = 0; i < size; i++)
        {
            a[i * size + i] += 1e-9 * trace / size; // a degenerate (flat) cloud still gets a finite metric
            inverse[i * size + i] = 1;
        }
        // Gauss–Jordan elimination; the ridged covariance is positive definite, so no pivoting is needed.
        for (int col = 0; col < size; col++)
        {
            double pivot = a[col * size + col];
            for (int j = 0; j < size; j++)
            {
                a[col * size + j] /= pivot;
                inverse[col * size + j] /= pivot;
            }
            for (int row = 0; row < size; row++)
            {
                if (row == col)
                    continue;
                double factor = a[row * size + col];
                for (int j = 0; j < size; j++)
                {
                    a[row * size + j] -= factor * a[col * size + j];
                    inverse[row * size + j] -= factor * inverse[col * size + j];
                }
            }
        }
        return inverse;
    }
}
