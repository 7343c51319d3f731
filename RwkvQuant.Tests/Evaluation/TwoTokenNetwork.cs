using RwkvQuant.Models;
using RwkvQuant.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace RwkvQuant.Tests.Evaluation;

/// <summary>
/// A real (tiny) recurrent network for testing the evaluators' bookkeeping: logits at position t are
/// W[x_t] + U[x_{t−1}], where x_{−1} is "none" (a zero row). Its state is the previous token, so chunking that
/// loses the state changes the result, and its exact NLL is easy to compute in double precision by hand.
/// </summary>
internal sealed class TwoTokenNetwork : RwkvNetwork
{
    private readonly Tensor _w; // [V, V]
    private readonly Tensor _u; // [V + 1, V]; row V is zero ("no previous token")

    public TwoTokenNetwork(float[,] w, float[,] u)
        : base(new RwkvConfig(RwkvVersion.V6, 1, 1, w.GetLength(0), 1, 1, 1))
    {
        TorchSharpNative.EnsureLoadable();
        W = w;
        U = u;
        int v = w.GetLength(0);
        _w = tensor(w).DetachFromDisposeScope();
        _u = cat([tensor(u), zeros(1, v)], 0).DetachFromDisposeScope();
    }

    public float[,] W { get; }

    public float[,] U { get; }

    public int ForwardCalls { get; private set; }

    public static TwoTokenNetwork Random(int vocabulary, int seed, float scale = 2f)
    {
        var random = new Random(seed);
        var w = new float[vocabulary, vocabulary];
        var u = new float[vocabulary, vocabulary];
        for (int i = 0; i < vocabulary; i++)
        {
            for (int j = 0; j < vocabulary; j++)
            {
                w[i, j] = (float)(random.NextDouble() * 2 - 1) * scale;
                u[i, j] = (float)(random.NextDouble() * 2 - 1) * scale;
            }
        }
        return new TwoTokenNetwork(w, u);
    }

    public override RwkvState CreateState(int batchSize = 1) =>
        new(batchSize, [[full([batchSize], (long)Config.VocabularySize, ScalarType.Int64).DetachFromDisposeScope()]]);

    // One "block" does the work: its input is the token ids as floats, its output the logits; the head is the identity.
    private protected override Tensor Embed(Tensor tokens)
    {
        ForwardCalls++;
        return tokens.to(ScalarType.Float32).unsqueeze(-1);
    }

    private protected override Tensor RunBlock(int block, Tensor x, RwkvState state, BlockCarry carry)
    {
        Tensor tokens = x.squeeze(-1).to(ScalarType.Int64);
        Tensor previous = cat([state.Layer(0)[0].unsqueeze(1), tokens[.., ..^1]], 1); // [B, T]
        Tensor logits = _w[tokens] + _u[previous];                                   // [B, T, V]
        state.Set(0, 0, tokens[.., -1].clone());
        return logits;
    }

    private protected override Tensor Head(Tensor x) => x;

    /// <summary>−ln p(token p+1 | prefix) summed over p = 0 … n − 2, in double precision.</summary>
    public double ExactNll(int[] document)
    {
        double total = 0;
        for (int p = 0; p + 1 < document.Length; p++)
        {
            double[] logits = Logits(document, p);
            double max = logits.Max();
            double logSum = max + Math.Log(logits.Sum(l => Math.Exp(l - max)));
            total += logSum - logits[document[p + 1]];
        }
        return total;
    }

    /// <summary>The logits at position p of a document, in double precision.</summary>
    public double[] Logits(int[] document, int p)
    {
        int v = Config.VocabularySize;
        var logits = new double[v];
        for (int j = 0; j < v; j++)
            logits[j] = W[document[p], j] + (p > 0 ? U[document[p - 1], j] : 0);
        return logits;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _w.Dispose();
            _u.Dispose();
        }
    }
}
