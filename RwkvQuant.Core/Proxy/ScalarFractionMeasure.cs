namespace RwkvQuant.Proxy;

/// <summary>What a target scalar-quantization fraction counts.</summary>
public enum ScalarFractionMeasure
{
    /// <summary>The fraction of matrices (the paper's "about 90% of matrices go to SQ").</summary>
    MatrixCount,

    /// <summary>The fraction of parameters (weights) in those matrices.</summary>
    ParameterCount,
}
