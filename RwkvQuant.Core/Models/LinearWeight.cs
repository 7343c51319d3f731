using RwkvQuant.Formats;

namespace RwkvQuant.Models;

/// <summary>
/// One linear weight of a model seen as the <c>[Rows = out, Columns = in]</c> matrix that quantizers take, with the
/// way back to its canonical tensor. <see cref="Block"/> is the block index, or −1 for <c>head.weight</c>.
/// <see cref="DiagonalBlocks"/> &gt; 1 means the layer's Hessian is block-diagonal with that many equal blocks
/// (see <see cref="LinearLayout.StackedInOut"/>).
/// </summary>
internal sealed record LinearWeight(string Name, int Block, LinearLayout Layout, int Rows, int Columns, int DiagonalBlocks)
{
    /// <summary>The canonical tensor as the float32 <c>[Rows, Columns]</c> matrix, named <see cref="Name"/>.</summary>
    public TensorData ToMatrix(TensorData canonical)
    {
        ArgumentNullException.ThrowIfNull(canonical);
        float[] values = canonical.ToFloatArray();
        if (values.Length != (long)Rows * Columns)
            throw new ArgumentException($"Tensor '{canonical.Name}' holds {values.Length} values; '{Name}' as [{Rows}, {Columns}] needs {(long)Rows * Columns}.", nameof(canonical));
        return TensorData.FromFloats(Name, [Rows, Columns], Layout switch
        {
            LinearLayout.OutIn => values,
            _ => Permute(values, toMatrix: true),
        });
    }

    /// <summary>The matrix <c>[Rows, Columns]</c> (row-major) back in the canonical tensor's layout and shape.</summary>
    public TensorData FromMatrix(ReadOnlySpan<float> matrix, IReadOnlyList<long> canonicalShape)
    {
        ArgumentNullException.ThrowIfNull(canonicalShape);
        if (matrix.Length != (long)Rows * Columns)
            throw new ArgumentException($"'{Name}' as [{Rows}, {Columns}] needs {(long)Rows * Columns} values, got {matrix.Length}.", nameof(matrix));
        float[] values = Layout == LinearLayout.OutIn ? matrix.ToArray() : Permute(matrix.ToArray(), toMatrix: false);
        return TensorData.FromFloats(Name, [.. canonicalShape], values);
    }

    /// <summary>Moves values between the canonical order and the matrix order (a transpose, per slice for the stacked form).</summary>
    private float[] Permute(float[] source, bool toMatrix)
    {
        var target = new float[source.Length];
        int slices = DiagonalBlocks, width = Columns / slices;    // the stacked [S, D, C]: D = width, C = Rows
        for (int s = 0; s < slices; s++)
        {
            for (int d = 0; d < width; d++)
            {
                for (int o = 0; o < Rows; o++)
                {
                    long canonical = ((long)s * width + d) * Rows + o; // [S, D, C] (S = 1 for plain [in, out])
                    long matrix = (long)o * Columns + s * width + d;    // [C, S·D]
                    if (toMatrix)
                        target[matrix] = source[canonical];
                    else
                        target[canonical] = source[matrix];
                }
            }
        }
        return target;
    }
}
