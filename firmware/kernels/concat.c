/*
 * concat.c - int8 CONCATENATION along one axis (TFLM reference semantics for
 * inputs that share the output's scale and zero point: a pure copy). Seen as
 * [outer][inner], input k contributes in_bytes[k] contiguous bytes to each of
 * the `outer` rows of out_row_bytes bytes, after the inputs before it. The
 * inputs are addressed by their offsets in the arena (in_offsets).
 */
#include <string.h>

#include "ofa_kernels.h"

void ofa_concat_s8(const ofa_concat_params_t *restrict p, const int8_t *arena, int8_t *output)
{
    int32_t k, o, at = 0;

    for (k = 0; k < p->n_inputs; ++k) {
        const int8_t *in = arena + p->in_offsets[k];
        const int32_t n = p->in_bytes[k];
        for (o = 0; o < p->outer; ++o) {
            memcpy(output + o * p->out_row_bytes + at, in + o * n, (size_t)n);
        }
        at += n;
    }
}
