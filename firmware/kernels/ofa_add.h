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

/*
 * One input's rescaling of TFLM's ADD in 32-bit integers, exactly requant((x + offset) * 2^20, mult,
 * shift) for int8 x, mult >= 0 and shift in [-31, 0] (ofa_add_in_ok); derivation in add.c.
 */
OFA_INLINE int ofa_add_in_ok(int32_t mult, int shift)
{
    return mult >= 0 && shift <= 0 && shift >= -31;
}

/* its constants, prepared once per call */
typedef struct {
    int32_t offset, mult, mh, ml, half, neg_mask, e;
} ofa_add_in_t;

OFA_INLINE ofa_add_in_t ofa_add_in(int32_t offset, int32_t mult, int shift)
{
    ofa_add_in_t r;
    r.offset = offset;
    r.mult = mult;
    r.mh = mult >> 11;
    r.ml = mult & 0x7FF;
    r.e = -shift;
    r.half = (int32_t)((1u << r.e) >> 1);
    r.neg_mask = r.e > 0 ? -1 : 0;
    return r;
}

OFA_INLINE int32_t ofa_add_in_apply(const ofa_add_in_t *c, int32_t x)
{
    const int32_t v = x + c->offset;
#if defined(OFA_ARM_DSP) && !defined(OFA_NO_ASM)
    /* SMMULR(2a, m) = floor((2a m + 2^31) / 2^32) = floor((a m + 2^30) / 2^31), a = v * 2^20 */
    int32_t y;
    __asm__("smmulr %0, %1, %2" : "=r"(y) : "r"(v * (1 << 21)), "r"(c->mult));
#else
    const int32_t y = v * c->mh + ((v * c->ml + (1 << 10)) >> 11);
#endif
    return (y + c->half + ((y >> 31) & c->neg_mask)) >> c->e;
}

#if defined(OFA_ARM_DSP) && !defined(OFA_NO_ASM)
#define OFA_ADD_ASM 1
/*
 * DSP cores: ofa_srdhm(a, m) for |a| < 2^30 and m >= 0 is SMMULR(2a, m) =
 * floor((2a m + 2^31) / 2^32) = floor((a m + 2^30) / 2^31), one instruction.
 */
OFA_INLINE int32_t ofa_smmulr(int32_t a2, int32_t m)
{
    int32_t y;
    __asm__("smmulr %0, %1, %2" : "=r"(y) : "r"(a2), "r"(m));
    return y;
}

OFA_INLINE int32_t ofa_srdhm_small(int32_t a, int32_t m)
{
    return ofa_smmulr(a * 2, m);
}

/*
 * ofa_rdivpot(y, e) + c for e in [1, 31]: ofa_requant.h's ADD/ASRS/ADC form, the rounding carry's
 * ADC adding c as well (the ADD kernel's other input, or its output offset) at no cost
 */
OFA_INLINE int32_t ofa_rdivpot_pos_add(int32_t y, int32_t e, int32_t c)
{
    /* in place: no register beyond y's (the ADD loop needs all but two for its constants) */
    __asm__("add %0, %0, %0, asr #31\n\t"
            "asrs %0, %0, %1\n\t"
            "adc %0, %0, %2"
            : "+r"(y)
            : "r"(e), "r"(c)
            : "cc");
    return y;
}
#endif

#endif /* OFA_ADD_H */
