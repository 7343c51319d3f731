namespace RwkvQuant.Evaluation;

/// <summary>Progress of an evaluation, reported after every forward chunk.</summary>
/// <param name="DocumentsDone">Documents fully scored.</param>
/// <param name="DocumentCount">Documents in the evaluation.</param>
/// <param name="TokensDone">Predicted tokens scored so far.</param>
/// <param name="TokenCount">Predicted tokens in the evaluation (each document's length minus one).</param>
public readonly record struct EvaluationProgress(int DocumentsDone, int DocumentCount, long TokensDone, long TokenCount);
