using TorchSharp;
using static RwkvQuant.Native.TorchScalars;
using static TorchSharp.torch;

namespace RwkvQuant.Training;

/// <summary>
/// The RWKV-7 WKV recurrence from the zero state, differentiable, for training. Per batch and head, with the state S
/// <c>[N(value), N(key)]</c>: S_t = S_{t−1}·(diag(w_t) + z_t·b_tᵀ) + v_t·k_tᵀ and y_t = S_t·r_t; all inputs
/// <c>[B, T, H, N]</c>, the output <c>[B, T, H, N]</c>. <see cref="Sequential"/> is the plain loop over time (the
/// reference); <see cref="Chunked"/> computes the same in chunks of <see cref="ChunkLength"/> steps, all the work inside
/// a chunk done at once by matrix products, and only the chunk-to-chunk state carried in a loop.
/// </summary>
internal static class TrainingWkv
{
    /// <summary>
    /// Steps per chunk. The cumulative decay γ over a chunk is at least 0.545^16 ≈ 6e-5 (RWKV-7's decay
    /// w = exp(−e^(−0.5)·σ(·)) is at least e^(−e^(−0.5)) ≈ 0.545), so its reciprocal stays far inside float32.
    /// </summary>
    public const int ChunkLength = 16;

    /// <summary>The plain loop over time (the reference for <see cref="Chunked"/>).</summary>
    public static Tensor Sequential(Tensor r, Tensor w, Tensor k, Tensor v, Tensor z, Tensor b)
    {
        using var scope = NewDisposeScope();
        long batch = r.shape[0], steps = r.shape[1], h = r.shape[2], n = r.shape[3];
        // Split over time once with unbind: its backward is one stack, where a select per step would have each step's
        // backward fill a whole [B, T, …] gradient (quadratic in T).
        Tensor[] wRow = w.unsqueeze(-2).unbind(1);                             // [B, H, 1, N]
        Tensor[] bkRows = stack([b, k], -2).unbind(1);                         // [B, H, 2, N]: b_tᵀ over k_tᵀ
        Tensor[] vColumn = v.unsqueeze(-1).unbind(1), zColumn = z.unsqueeze(-1).unbind(1), rColumn = r.unsqueeze(-1).unbind(1); // [B, H, N, 1]
        var outputs = new Tensor[steps];
        Tensor current = zeros(batch, h, n, n);
        for (int t = 0; t < steps; t++)
        {
            Tensor sz = current.matmul(zColumn[t]);                            // [B, H, N, 1]
            // (S·z)·bᵀ + v·kᵀ as one rank-2 product [S·z, v]·[b, k]ᵀ
            current = (current * wRow[t]).add(cat([sz, vColumn[t]], -1).matmul(bkRows[t]), One);
            outputs[t] = current.matmul(rColumn[t]);                           // [B, H, N, 1]
        }
        return stack(outputs, 1).squeeze(-1).MoveToOuterDisposeScope();       // [B, T, H, N]
    }

    /// <summary>
    /// The same function in chunks of L = <see cref="ChunkLength"/> steps. Inside a chunk starting from state S₀, with
    /// γ_t = Π_{i≤t} w_i (and γ₀ = 1) and q_s = S_{s−1}·z_s, unrolling gives
    /// S_t = S₀Γ_t + Σ_{s≤t} (q_s·b_sᵀ + v_s·k_sᵀ)·diag(γ_t / γ_s). With z̃_s = z_s ⊙ γ_{s−1}, r̃_t = r_t ⊙ γ_t,
    /// b̃_s = b_s / γ_s, k̃_s = k_s / γ_s (rows of L × N matrices):
    /// Q = (I − M)⁻¹ (Z̃·S₀ᵀ + N·V) with M = strictly-lower(Z̃·B̃ᵀ), N = strictly-lower(Z̃·K̃ᵀ);
    /// Y = R̃·S₀ᵀ + lower(R̃·B̃ᵀ)·Q + lower(R̃·K̃ᵀ)·V; and the next chunk's S₀ᵀ = diag(γ_L)·S₀ᵀ + (B̃γ_L)ᵀ·Q + (K̃γ_L)ᵀ·V.
    /// Everything but the three lines that involve S₀ is computed for all chunks at once. T need not be a multiple of L
    /// (the tail is padded with w = 1 and zeros, which leave the state unchanged).
    /// </summary>
    public static Tensor Chunked(Tensor r, Tensor w, Tensor k, Tensor v, Tensor z, Tensor b)
    {
        using var scope = NewDisposeScope();
        long batch = r.shape[0], steps = r.shape[1], h = r.shape[2], n = r.shape[3];
        int l = ChunkLength;
        long chunks = (steps + l - 1) / l, padded = chunks * l;

        // [B, T, H, N] → [B, H, C, L, N], padded to whole chunks.
        Tensor Chunk(Tensor x, double padValue)
        {
            Tensor t = x.permute(0, 2, 1, 3);                                  // [B, H, T, N]
            if (padded != steps)
                t = nn.functional.pad(t, [0, 0, 0, padded - steps], value: padValue);
            return t.reshape(batch, h, chunks, l, n);
        }
        Tensor rc = Chunk(r, 0), kc = Chunk(k, 0), vc = Chunk(v, 0), zc = Chunk(z, 0), bc = Chunk(b, 0);
        Tensor logW = Chunk(w, 1).log();
        Tensor logGamma = logW.cumsum(-2);                                     // log γ_t (inclusive)
        Tensor gamma = logGamma.exp(), inverseGamma = (-logGamma).exp();
        Tensor zTilde = zc * (logGamma - logW).exp();                          // z_s ⊙ γ_{s−1}
        Tensor rTilde = rc * gamma;
        Tensor bTilde = bc * inverseGamma, kTilde = kc * inverseGamma;
        Tensor gammaLast = gamma.narrow(-2, l - 1, 1);                         // [B, H, C, 1, N]
        Tensor bHat = bTilde * gammaLast, kHat = kTilde * gammaLast;            // b_s ⊙ γ_L / γ_s

        Tensor m = zTilde.matmul(bTilde.transpose(-1, -2)).tril(-1);           // [B, H, C, L, L]
        Tensor nMatrix = zTilde.matmul(kTilde.transpose(-1, -2)).tril(-1);
        Tensor arb = rTilde.matmul(bTilde.transpose(-1, -2)).tril(0);
        Tensor ark = rTilde.matmul(kTilde.transpose(-1, -2)).tril(0);
        Tensor identity = eye(l);
        Tensor inverse = linalg.solve_triangular(identity - m, identity.expand(m.shape), upper: false, unitriangular: true); // (I − M)⁻¹
        Tensor tz = inverse.matmul(zTilde);                                    // [B, H, C, L, N]
        Tensor tnv = inverse.matmul(nMatrix.matmul(vc));
        Tensor arkV = ark.matmul(vc);
        Tensor kHatV = kHat.transpose(-1, -2).matmul(vc);                      // [B, H, C, N(key), N(value)]

        Tensor[] tzs = tz.unbind(2), tnvs = tnv.unbind(2), rTildes = rTilde.unbind(2), arbs = arb.unbind(2), arkVs = arkV.unbind(2);
        Tensor[] gammaLasts = gammaLast.squeeze(-2).unsqueeze(-1).unbind(2), bHats = bHat.transpose(-1, -2).unbind(2), kHatVs = kHatV.unbind(2);
        var outputs = new Tensor[chunks];
        Tensor stateT = zeros(batch, h, n, n);                                 // S₀ᵀ [B, H, N(key), N(value)]
        for (int c = 0; c < chunks; c++)
        {
            Tensor q = tzs[c].matmul(stateT).add(tnvs[c], One);                // [B, H, L, N(value)]
            outputs[c] = rTildes[c].matmul(stateT).add(arbs[c].matmul(q), One).add(arkVs[c], One);
            stateT = (gammaLasts[c] * stateT).add(bHats[c].matmul(q), One).add(kHatVs[c], One);
        }
        Tensor y = stack(outputs, 2).reshape(batch, h, padded, n);             // [B, H, T', N]
        return y.narrow(2, 0, steps).permute(0, 2, 1, 3).contiguous().MoveToOuterDisposeScope(); // [B, T, H, N]
    }
}
