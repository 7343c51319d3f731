namespace RwkvQuant.Corpora;

/// <summary>The four disjoint parts of a corpus: training text, and three held-out parts.</summary>
public enum CorpusSplit
{
    /// <summary>Text a model is trained on (about 90 % of the documents).</summary>
    Train,

    /// <summary>Held-out text for the validation loss during training (about 4 %).</summary>
    Validation,

    /// <summary>Held-out text for quantization calibration (about 3 %).</summary>
    Calibration,

    /// <summary>Held-out text results are reported on (about 3 %).</summary>
    Evaluation,
}
