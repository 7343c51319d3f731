// Writes ggml's own K-quant outputs for deterministic inputs: the test vectors of RwkvQuant's K-quant tests.
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <math.h>
#include "ggml.h"
#include "ggml-quants.h"

static uint64_t s = 0x9E3779B97F4A7C15ull;
static double uni(void) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return (double)(s >> 11) / 9007199254740992.0; }
static float gauss(void) { double u = uni() + 1e-12, v = uni(); return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v)); }

typedef size_t (*qfn)(const float*, void*, int64_t, int64_t, const float*);
typedef void (*dqfn)(const void*, float*, int64_t);

int main(void) {
    iq3xs_init_impl(512);
    FILE* f = fopen("kquants-ggml.bin", "wb");
    const int types[] = { GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K, GGML_TYPE_IQ4_XS, GGML_TYPE_IQ4_NL, GGML_TYPE_Q5_0, GGML_TYPE_IQ3_S };
    const qfn q[] = { quantize_q2_K, quantize_q3_K, quantize_q4_K, quantize_iq4_xs, quantize_iq4_nl, quantize_q5_0, quantize_iq3_s };
    const dqfn dq[] = { (dqfn)dequantize_row_q2_K, (dqfn)dequantize_row_q3_K, (dqfn)dequantize_row_q4_K, (dqfn)dequantize_row_iq4_xs, (dqfn)dequantize_row_iq4_nl, (dqfn)dequantize_row_q5_0, (dqfn)dequantize_row_iq3_s };
    const int sizes[] = { 84, 110, 144, 136, 18, 22, 110 };
    const int values[] = { 256, 256, 256, 256, 32, 32, 256 };
    // cases: kind 0 gaussian, 1 gaussian with outliers, 2 with zero sub-blocks and tiny values, 3 all positive, 4 fp16-exact values,
    // 5 every third group of 32 all zero (IQ3_S's quantizer skips such groups without advancing its output positions)
    const int nrow = 2, ncol = 512;
    fwrite("KQV1", 1, 4, f);
    int ncases = 6, ntypes = 7;
    fwrite(&ncases, 4, 1, f); fwrite(&ntypes, 4, 1, f); fwrite(&nrow, 4, 1, f); fwrite(&ncol, 4, 1, f);
    for (int t = 0; t < ntypes; t++) { int id = types[t]; fwrite(&id, 4, 1, f); fwrite(&values[t], 4, 1, f); fwrite(&sizes[t], 4, 1, f); }
    float* x = malloc(sizeof(float) * nrow * ncol);
    float* imat = malloc(sizeof(float) * ncol);
    float* y = malloc(sizeof(float) * nrow * ncol);
    uint8_t* blocks = malloc(nrow * ncol);
    for (int c = 0; c < ncases; c++) {
        for (int i = 0; i < nrow * ncol; i++) {
            float v = 0.02f * gauss();
            if (c == 1 && uni() < 0.01) v *= 25;
            if (c == 2 && ((i / 16) % 5 == 2)) v = 0;
            if (c == 2 && ((i / 16) % 7 == 3)) v *= 1e-6f;
            if (c == 3) v = fabsf(v) + 0.001f;
            if (c == 4) v = (float)(int)(v * 2048) / 2048;
            if (c == 5 && ((i / 32) % 3 == 1)) v = 0;
            x[i] = v;
        }
        for (int j = 0; j < ncol; j++) { float g = gauss(); imat[j] = (c == 1 ? 0.0f : 0.05f) + g * g * (j % 13 == 0 ? 20 : 1); }
        fwrite(x, 4, nrow * ncol, f);
        fwrite(imat, 4, ncol, f);
        for (int t = 0; t < ntypes; t++) {
            for (int w = 0; w < 2; w++) {
                size_t bytes = q[t](x, blocks, nrow, ncol, w ? imat : NULL);
                if (bytes != (size_t)nrow * ncol / values[t] * sizes[t]) { fprintf(stderr, "size %zu\n", bytes); return 1; }
                fwrite(blocks, 1, bytes, f);
                dq[t](blocks, y, (int64_t)nrow * ncol);
                fwrite(y, 4, nrow * ncol, f);
            }
        }
    }
    fclose(f);
    return 0;
}
