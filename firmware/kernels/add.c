/*
 * add.c - int8 ADD of two same-shape tensors, TFLM arithmetic (ofa_add.h).
 *
 * The input rescaling in 32-bit integers: with v = x + in_offset (|v| <= 255) and a multiplier
 * m >= 0 split as m = mh * 2^11 + ml (ml < 2^11), TFLM's
 *   SaturatingRoundingDoublingHighMul(v * 2^20, m) = floor((v * m * 2^20 + 2^30) / 2^31)
 *                                                  = v * mh + floor((v * ml + 2^10) / 2^11)
 * exactly, with no product above 2^28 (no 64-bit multiply, which ARMv6-M does not have); DSP cores
 * take SMMULR(v * 2^21, m), the same value in one instruction (|v * 2^21| < 2^30). Its
 * rounding divide by 2^e (e = -shift >= 0) is floor((y + 2^(e-1) - (y < 0 and e > 0)) / 2^e)
 * (ofa_requant.h's derivation). TFLM's ADD multipliers have shifts <= 0; any other parameters
 * take the element-by-element form. The rescaling helpers are in ofa_add.h.
 */
#include "ofa_add.h"
#include "ofa_kernels.h"

void ofa_add_s8(const ofa_add_params_t *restrict p, const int8_t *input1, const int8_t *input2,
                int8_t *output)
{
    const int32_t n = p->size;
    int32_t i;
    if (ofa_add_in_ok(p->in1_mult, p->in1_shift) && ofa_add_in_ok(p->in2_mult, p->in2_shift) && p->out_shift <= 0) {
        const ofa_add_in_t c1 = ofa_add_in(p->in1_offset, p->in1_mult, p->in1_shift);
        const ofa_add_in_t c2 = ofa_add_in(p->in2_offset, p->in2_mult, p->in2_shift);
        const int32_t out_mult = p->out_mult, out_off = p->out_offset, lo = p->act_min, hi = p->act_max;
        const int out_shift = p->out_shift;
        for (i = 0; i < n; ++i) {
            const int32_t s = ofa_add_in_apply(&c1, input1[i]) + ofa_add_in_apply(&c2, input2[i]);
            output[i] = (int8_t)ofa_clamp(ofa_requant(s, out_mult, out_shift) + out_off, lo, hi);
        }
        return;
    }
    for (i = 0; i < n; ++i) {
        output[i] = ofa_add_one_s8(p, input1[i], input2[i]);
    }
}
