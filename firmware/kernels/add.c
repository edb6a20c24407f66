/*
 * add.c - int8 ADD of two same-shape tensors, TFLM arithmetic (ofa_add.h).
 *
 * The input rescaling in 32-bit integers: with v = x + in_offset (|v| <= 255) and a multiplier
 * m >= 0 split as m = mh * 2^11 + ml (ml < 2^11), TFLM's
 *   SaturatingRoundingDoublingHighMul(v * 2^20, m) = floor((v * m * 2^20 + 2^30) / 2^31)
 *                                                  = v * mh + floor((v * ml + 2^10) / 2^11)
 * exactly, with no product above 2^28 (no 64-bit multiply, which ARMv6-M does not have); DSP cores
 * take SMMULR(v * 2^21, m), the same value in one instruction (|v * 2^21| < 2^30); other ARMv7-M
 * code keeps ofa_requant's SMULL form, the faster one there. Its
 * rounding divide by 2^e (e = -shift >= 0) is floor((y + 2^(e-1) - (y < 0 and e > 0)) / 2^e)
 * (ofa_requant.h's derivation). TFLM's ADD multipliers have shifts <= 0; any other parameters
 * take the element-by-element form. The rescaling helpers are in ofa_add.h.
 */
#include "ofa_add.h"
#include "ofa_kernels.h"

#if defined(__ARM_ARCH_ISA_THUMB) && __ARM_ARCH_ISA_THUMB >= 2 && !defined(OFA_NO_ASM)
#define OFA_HAS_SMULL 1
#else
#define OFA_HAS_SMULL 0
#endif

#if OFA_ADD_ASM
/*
 * DSP cores, the common case: one input at the larger scale (its multiplier 0.5: shift 0) and the
 * other at a smaller one (shift < 0), output shift < 0. With a the input of shift < 0 and b the
 * other, per element: a' = rdiv(srdhm(a * 2^20, ma), ea), b' = srdhm(b * 2^20, mb),
 * y = clamp(rdiv(srdhm(a' + b', mo), eo) + out_offset), every srdhm an SMMULR (ofa_add.h;
 * |a' + b'| < 2^29), a' + b' and the output offset added by the rounding carry's ADC, the clamp one
 * SSAT without a fused activation: 16 instructions an element and 2 for the loop.
 */
OFA_INLINE int8_t add_dsp_one(int32_t xa, int32_t xb, int32_t off_a, int32_t off_b, int32_t ma, int32_t mb,
                              int32_t ea, int32_t mo, int32_t eo, int32_t out_off, int32_t lo, int32_t hi,
                              int full_range)
{
    const int32_t b = ofa_smmulr(off_b + xb * (2 << OFA_ADD_LEFT_SHIFT), mb);
    const int32_t s = ofa_rdivpot_pos_add(ofa_smmulr(off_a + xa * (2 << OFA_ADD_LEFT_SHIFT), ma), ea, b);
    const int32_t y = ofa_rdivpot_pos_add(ofa_srdhm_small(s, mo), eo, out_off);
    return (int8_t)(full_range ? __ssat(y, 8) : ofa_clamp(y, lo, hi));
}

OFA_INLINE void add_dsp_loop(const int8_t *xa, const int8_t *xb, int8_t *output, int8_t *const end, int32_t off_a,
                             int32_t off_b, int32_t ma, int32_t mb, int32_t ea, int32_t mo, int32_t eo,
                             int32_t out_off, int32_t lo, int32_t hi, int full_range)
{
    /* one element a pass: two at once need more registers than the 14 there are (measured: gcc's
       spills and pointer copies then cost what the unrolling saved) */
    while (output != end) {
        *output++ = add_dsp_one(*xa++, *xb++, off_a, off_b, ma, mb, ea, mo, eo, out_off, lo, hi, full_range);
    }
}

/* add_dsp_loop when the parameters are of its form (returns 1), else 0 */
static int add_dsp(const ofa_add_params_t *restrict p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    const int swap = p->in1_shift == 0;
    /* the offsets times 2^21: the doubled inputs of SMMULR */
    const int32_t off_a = (swap ? p->in2_offset : p->in1_offset) * (2 << OFA_ADD_LEFT_SHIFT);
    const int32_t off_b = (swap ? p->in1_offset : p->in2_offset) * (2 << OFA_ADD_LEFT_SHIFT);
    const int32_t ma = swap ? p->in2_mult : p->in1_mult, mb = swap ? p->in1_mult : p->in2_mult;
    const int32_t ea = -(swap ? p->in2_shift : p->in1_shift), eb = -(swap ? p->in1_shift : p->in2_shift);
    const int32_t mo = p->out_mult, eo = -p->out_shift;
    if (eb != 0 || ea < 1 || ea > 31 || eo < 1 || eo > 31 || ma < 0 || mb < 0 || mo < 0) {
        return 0;
    }
    if (p->act_min == -128 && p->act_max == 127) {
        add_dsp_loop(swap ? input2 : input1, swap ? input1 : input2, output, output + p->size, off_a, off_b, ma, mb,
                     ea, mo, eo, p->out_offset, -128, 127, 1);
    } else {
        add_dsp_loop(swap ? input2 : input1, swap ? input1 : input2, output, output + p->size, off_a, off_b, ma, mb,
                     ea, mo, eo, p->out_offset, p->act_min, p->act_max, 0);
    }
    return 1;
}
#endif

void ofa_add_s8(const ofa_add_params_t *restrict p, const int8_t *input1, const int8_t *input2,
                int8_t *output)
{
    const int32_t n = p->size;
    int32_t i;
#if OFA_ADD_ASM
    if (add_dsp(p, input1, input2, output)) {
        return;
    }
#endif
    /* ARMv7-M without the DSP path keeps the 64-bit multiply form (SMULL is one instruction there) */
    if (!OFA_HAS_SMULL && ofa_add_in_ok(p->in1_mult, p->in1_shift) && ofa_add_in_ok(p->in2_mult, p->in2_shift) &&
        p->out_shift <= 0) {
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
