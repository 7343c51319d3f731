namespace RwkvQuant.Vector.KMeans;

/// <summary>The outcome of one k-means fit.</summary>
/// <param name="Centroids">The centroids <c>[k, d]</c> row-major.</param>
/// <param name="Assignments">Each point's nearest centroid under the final centroids.</param>
/// <param name="Objectives">The objective after the initial assignment and after every iteration's assignment step;
/// Lloyd's algorithm never lets it increase.</param>
/// <param name="Iterations">Update steps run.</param>
/// <param name="Converged">True when the last assignment step changed nothing.</param>
internal sealed record KMeansResult(double[] Centroids, int[] Assignments, double[] Objectives, int Iterations, bool Converged)
{
    /// <summary>The final objective.</summary>
    public double Objective => Objectives[^1];
}
