/*
 * add.c - int8 ADD of two same-shape tensors, TFLM arithmetic:
 *   a = (x1 + in1_offset) * 2^20, b = (x2 + in2_offset) * 2^20
 *   a = requant(a, in1_mult, in1_shift), b = requant(b, in2_mult, in2_shift)
 *   y = clamp(requant(a + b, out_mult, out_shift) + out_offset)
 * The multipliers are TFLM's: in_i = s_i / (2 max(s1, s2)),
 * out = 2 max(s1, s2) / (2^20 s_out) (add_multipliers() in tflite_graph.py).
 * TFLM uses MultiplyByQuantizedMultiplierSmallerThanOneExp here, which equals
 * ofa_requant for the non-positive shifts these multipliers have.
 */
#include "ofa_kernels.h"
#include "ofa_requant.h"

void ofa_add_s8(const ofa_add_params_t *restrict p, const int8_t *input1, const int8_t *input2,
                int8_t *output)
{
    const int32_t n = p->size;
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t a = ((int32_t)input1[i] + p->in1_offset) * (1 << OFA_ADD_LEFT_SHIFT);
        const int32_t b = ((int32_t)input2[i] + p->in2_offset) * (1 << OFA_ADD_LEFT_SHIFT);
        const int32_t sa = ofa_requant(a, p->in1_mult, p->in1_shift);
        const int32_t sb = ofa_requant(b, p->in2_mult, p->in2_shift);
        const int32_t y = ofa_requant(sa + sb, p->out_mult, p->out_shift) + p->out_offset;
        output[i] = (int8_t)ofa_clamp(y, p->act_min, p->act_max);
    }
}
