/*
 * ofa_add.h - one element of TFLM's int8 ADD (internal, shared by add.c and
 * the conv + ADD kernel):
 *   a = (x1 + in1_offset) * 2^20, b = (x2 + in2_offset) * 2^20
 *   a = requant(a, in1_mult, in1_shift), b = requant(b, in2_mult, in2_shift)
 *   y = clamp(requant(a + b, out_mult, out_shift) + out_offset)
 * The multipliers are TFLM's: in_i = s_i / (2 max(s1, s2)),
 * out = 2 max(s1, s2) / (2^20 s_out) (add_multipliers() in ofa_mcu/native/requant.py).
 * TFLM uses MultiplyByQuantizedMultiplierSmallerThanOneExp here, which equals
 * ofa_requant for the non-positive shifts these multipliers have. a + b is
 * commutative, so the two inputs may be given in either order with their
 * parameters.
 */
#ifndef OFA_ADD_H
#define OFA_ADD_H

#include "ofa_kernels.h"
#include "ofa_requant.h"

OFA_INLINE int8_t ofa_add_one_s8(const ofa_add_params_t *p, int32_t x1, int32_t x2)
{
    const int32_t a = (x1 + p->in1_offset) * (1 << OFA_ADD_LEFT_SHIFT);
    const int32_t b = (x2 + p->in2_offset) * (1 << OFA_ADD_LEFT_SHIFT);
    const int32_t sa = ofa_requant(a, p->in1_mult, p->in1_shift);
    const int32_t sb = ofa_requant(b, p->in2_mult, p->in2_shift);
    const int32_t y = ofa_requant(sa + sb, p->out_mult, p->out_shift) + p->out_offset;
    return (int8_t)ofa_clamp(y, p->act_min, p->act_max);
}

#endif /* OFA_ADD_H */
