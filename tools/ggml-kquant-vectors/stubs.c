// The link-time stubs ggml-quants.c needs outside the full ggml library (only the types gen.c quantizes).
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include "ggml.h"
void ggml_abort(const char * file, int line, const char * fmt, ...) { fprintf(stderr, "abort %s:%d\n", file, line); abort(); }
size_t ggml_type_size(enum ggml_type t) { switch (t) { case GGML_TYPE_Q2_K: return 84; case GGML_TYPE_Q3_K: return 110; case GGML_TYPE_Q4_K: return 144; case GGML_TYPE_IQ4_XS: return 136; case GGML_TYPE_IQ4_NL: return 18; case GGML_TYPE_Q5_0: return 22; case GGML_TYPE_IQ3_S: return 110; default: abort(); } }
size_t ggml_row_size(enum ggml_type t, int64_t ne) { return ggml_type_size(t) * (ne / (t == GGML_TYPE_IQ4_NL || t == GGML_TYPE_Q5_0 ? 32 : 256)); }
const char * ggml_type_name(enum ggml_type t) { return "?"; }
