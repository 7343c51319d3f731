using RwkvQuant.Formats;
using RwkvQuant.Models;
using RwkvQuant.Quantization;

namespace RwkvQuant.ModelFiles;

/// <summary>
/// A quantized tensor placed in a model: the <c>[rows, columns]</c> matrix that the quantizer saw, how the canonical
/// tensor holds that matrix (<see cref="LinearLayout"/>), and the canonical shape. A tensor that is not a linear weight
/// (a vector, the embedding) uses <see cref="LinearLayout.OutIn"/>: its row-major values are the canonical values.
/// </summary>
internal sealed record QuantizedSlot(QuantizedTensor Tensor, LinearLayout Layout, IReadOnlyList<long> CanonicalShape)
{
    /// <summary>Checks that the layout and canonical shape can hold the <c>[rows, columns]</c> matrix.</summary>
    /// <exception cref="ArgumentException">They cannot.</exception>
    public void Validate()
    {
        int rows = Tensor.Rows, columns = Tensor.Columns;
        long count = 1;
        foreach (long dimension in CanonicalShape)
        {
            if (dimension < 1)
                throw new ArgumentException($"Tensor '{Tensor.Name}' has canonical shape [{string.Join(", ", CanonicalShape)}] with an empty dimension.");
            count = checked(count * dimension);
        }
        bool fits = Layout switch
        {
            LinearLayout.OutIn => count == Tensor.ElementCount,
            LinearLayout.InOut => CanonicalShape.Count == 2 && CanonicalShape[0] == columns && CanonicalShape[1] == rows,
            LinearLayout.StackedInOut => CanonicalShape.Count == 3 && CanonicalShape[2] == rows && CanonicalShape[0] * CanonicalShape[1] == columns,
            _ => false,
        };
        if (!fits)
            throw new ArgumentException($"Tensor '{Tensor.Name}' [{rows}, {columns}] does not fit the canonical shape [{string.Join(", ", CanonicalShape)}] in layout {Layout}.");
    }

    /// <summary>The dequantized values as the float32 canonical tensor.</summary>
    public TensorData ToCanonical()
    {
        int diagonalBlocks = Layout == LinearLayout.StackedInOut ? checked((int)CanonicalShape[0]) : 1;
        var weight = new LinearWeight(Tensor.Name, -1, Layout, Tensor.Rows, Tensor.Columns, diagonalBlocks);
        return weight.FromMatrix(Tensor.Dequantize(), CanonicalShape);
    }
}
