/*
 * pad.c - int8 PAD / PADV2 of a tensor of up to four dimensions (TFLM reference
 * semantics): every output element outside the copied input block takes the
 * pad value (PAD: the output zero point; PADV2: its constant), the input block
 * is copied unchanged (input and output share scale and zero point). The
 * innermost dimension is one memset / memcpy run per row.
 */
#include <string.h>

#include "ofa_kernels.h"

void ofa_pad_s8(const ofa_pad_params_t *restrict p, const int8_t *restrict input, int8_t *restrict output)
{
    const int32_t o1 = p->out_dims[1], o2 = p->out_dims[2], o3 = p->out_dims[3];
    const int32_t i3 = p->in_dims[3];
    const int8_t value = (int8_t)p->pad_value;
    int32_t a, b, c;

    for (a = 0; a < p->out_dims[0]; ++a) {
        const int32_t ia = a - p->before[0];
        for (b = 0; b < o1; ++b) {
            const int32_t ib = b - p->before[1];
            for (c = 0; c < o2; ++c) {
                const int32_t ic = c - p->before[2];
                int8_t *row = output + ((a * o1 + b) * o2 + c) * o3;
                if (ia < 0 || ia >= p->in_dims[0] || ib < 0 || ib >= p->in_dims[1] || ic < 0 ||
                    ic >= p->in_dims[2]) {
                    memset(row, value, (size_t)o3);
                    continue;
                }
                memset(row, value, (size_t)p->before[3]);
                memcpy(row + p->before[3], input + ((ia * p->in_dims[1] + ib) * p->in_dims[2] + ic) * i3,
                       (size_t)i3);
                memset(row + p->before[3] + i3, value, (size_t)(o3 - p->before[3] - i3));
            }
        }
    }
}
