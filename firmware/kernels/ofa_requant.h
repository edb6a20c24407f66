/*
 * ofa_requant.h - the int8 fixed-point arithmetic shared by every kernel,
 * written once.
 *
 * These helpers reproduce, bit for bit, the arithmetic of the TFLM reference
 * kernels in their default configuration (double rounding,
 * TFLITE_SINGLE_ROUNDING off):
 *
 *   ofa_srdhm(a, b)       saturating rounding doubling high multiply:
 *                         (a*b + nudge) / 2^31 truncated toward zero, nudge
 *                         +2^30 (ab >= 0) or 1 - 2^30 (ab < 0). That equals
 *                         floor((a*b + 2^30) / 2^31): ties round toward +inf
 *                         (-0.5 -> 0), NOT away from zero. The only overflow,
 *                         a == b == INT32_MIN, saturates to INT32_MAX.
 *   ofa_rdivpot(x, e)     rounding divide by 2^e, e in [0, 31], ties away from
 *                         zero (arithmetic shift plus a remainder test).
 *   ofa_requant_ref(x, m, s)  MultiplyByQuantizedMultiplier: for s > 0 the
 *                         input is first multiplied by 2^s (wrapping), then
 *                         ofa_srdhm by m, then ofa_rdivpot by max(-s, 0).
 *                         Two roundings, as TFLM does by default.
 *   ofa_requant(x, m, s)  the same function, bit for bit, in one 64-bit
 *                         multiply-accumulate (derivation below); what the
 *                         kernels use.
 *   ofa_clamp(x, lo, hi)  the fused-activation clamp.
 *
 * (m, s) come from frexp of the real multiplier, rounded to Q31 (see
 * ofa_mcu/native/tflite_graph.py: quantize_multiplier).
 *
 * Requirements on the compiler: two's complement int32_t / int64_t and an
 * arithmetic right shift of negative values (gcc, clang and armcc all do so).
 */
#ifndef OFA_REQUANT_H
#define OFA_REQUANT_H

#include <stdint.h>

#include "ofa_kernels.h"

/*
 * OFA_USE_DSP selects the Cortex-M DSP-extension inner loops (SMLAD & co.):
 * OFA_KERNELS_DSP (ofa_kernels.h: on by default where the core has them, off
 * with -DOFA_NO_DSP, emulated in plain C with -DOFA_EMULATE_DSP).
 */
#define OFA_USE_DSP OFA_KERNELS_DSP
#if OFA_KERNELS_DSP && !defined(OFA_EMULATE_DSP)
#define OFA_ARM_DSP 1
#include <arm_acle.h>
#endif

#if defined(__GNUC__)
#define OFA_INLINE static inline __attribute__((always_inline))
#else
#define OFA_INLINE static inline
#endif

/* on a function whose short copy and fill loops gcc would otherwise turn into memcpy / memset calls */
#if defined(__GNUC__) && !defined(__clang__)
#define OFA_NO_LIBCALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define OFA_NO_LIBCALLS
#endif

/* Saturating rounding doubling high multiply (gemmlowp semantics). */
OFA_INLINE int32_t ofa_srdhm(int32_t a, int32_t b)
{
    int64_t ab;
    int64_t t;
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    ab = (int64_t)a * (int64_t)b;
    /* nudge, then divide by 2^31 truncating toward zero */
    t = ab + (ab >= 0 ? (int64_t)(1 << 30) : (int64_t)(1 - (1 << 30)));
    if (t < 0) {
        t += ((int64_t)1 << 31) - 1;
    }
    return (int32_t)(t >> 31);
}

/* Rounding divide by 2^exponent, exponent in [0, 31], ties away from zero. */
OFA_INLINE int32_t ofa_rdivpot(int32_t x, int exponent)
{
    const int32_t mask = (int32_t)((((uint32_t)1) << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/*
 * TFLM MultiplyByQuantizedMultiplier (int32 input, double rounding), written
 * literally as TFLM composes it. Reference for ofa_requant (tests compare
 * both); the kernels use ofa_requant.
 */
OFA_INLINE int32_t ofa_requant_ref(int32_t x, int32_t multiplier, int shift)
{
    const int left = shift > 0 ? shift : 0;
    const int right = shift > 0 ? 0 : -shift;
    const int32_t shifted = (int32_t)((uint32_t)x << left);
    return ofa_rdivpot(ofa_srdhm(shifted, multiplier), right);
}

/*
 * The same function as ofa_requant_ref, bit for bit, for any int32 x, any
 * multiplier >= 0 (QuantizeMultiplier never gives a negative one) and shift
 * in [-31, 31], with one 64-bit multiply and 32-bit steps after it:
 *
 * With m >= 0 the saturating case of ofa_srdhm cannot occur and its nudge
 * (+2^30, or 1 - 2^30 then truncation toward zero) equals a floor:
 *     y = floor((xs*m + 2^30) / 2^31)    (y > INT32_MIN).
 * ofa_rdivpot(y, e) for e >= 1 is floor((y + 2^(e-1) - s) / 2^e) with
 * s = (y < 0): with t = y - s (no overflow), that is floor(t / 2^e) plus 1
 * exactly when bit e-1 of t is set (adding 2^(e-1) carries into bit e):
 *     e == 0: y
 *     e >= 1: (t >> e) + ((t >> (e - 1)) & 1),  t = y + (y >> 31).
 */
#if defined(__ARM_ARCH_ISA_THUMB) && __ARM_ARCH_ISA_THUMB >= 2 && !defined(OFA_NO_ASM)
/*
 * ARMv7-M (Cortex-M3/M4/M7/M33): the same function in 6 instructions for a
 * right shift e >= 1, 3 (plus the left shift) otherwise:
 *   SMULL lo, hi, x, m          P = x*m
 *   LSRS  lo, lo, #31           C = bit 30 of P, lo = bit 31 of P
 *   ADC   y, lo, hi, LSL #1     y = floor(P / 2^31) + bit 30 = floor((P + 2^30) / 2^31)
 *   ADD   t, y, y, ASR #31      t = y - (y < 0)
 *   ASRS  r, t, e               C = bit e-1 of t
 *   ADC   r, r, #0              r = floor((t + 2^(e-1)) / 2^e)
 * which is the derivation above step by step (the rounding bit is the
 * carry of the shift). tests/test_kernels.py and
 * benchmarks/requant_qemu.py run it in QEMU against ofa_requant_ref.
 */
OFA_INLINE int32_t ofa_requant(int32_t x, int32_t multiplier, int shift)
{
    int32_t lo, hi;
    if (shift < 0) {
        const int32_t e = -shift;
        __asm__("smull %[lo], %[hi], %[x], %[m]\n\t"
                "lsrs %[lo], %[lo], #31\n\t"
                "adc %[hi], %[lo], %[hi], lsl #1\n\t"
                "add %[hi], %[hi], %[hi], asr #31\n\t"
                "asrs %[hi], %[hi], %[e]\n\t"
                "adc %[hi], %[hi], #0"
                : [lo] "=&r"(lo), [hi] "=&r"(hi)
                : [x] "r"(x), [m] "r"(multiplier), [e] "r"(e)
                : "cc");
        return hi;
    }
    __asm__("smull %[lo], %[hi], %[x], %[m]\n\t"
            "lsrs %[lo], %[lo], #31\n\t"
            "adc %[hi], %[lo], %[hi], lsl #1"
            : [lo] "=&r"(lo), [hi] "=&r"(hi)
            : [x] "r"((int32_t)((uint32_t)x << shift)), [m] "r"(multiplier)
            : "cc");
    return hi;
}
#elif defined(__ARM_ARCH_ISA_THUMB) && __ARM_ARCH_ISA_THUMB == 1 && defined(__GNUC__) && !defined(OFA_NO_ASM)
/*
 * ARMv6-M (Cortex-M0/M0+/M1): no 64-bit multiply instruction (the C form calls __aeabi_lmul,
 * about 60 instructions with its set-up). The same function with four 16x16 MULS, exact for any
 * int32 x and 0 <= m < 2^31: with xl = x & 0xFFFF (unsigned), xh = x >> 16 (signed),
 * ml = m & 0xFFFF, mh = m >> 16 (< 2^15):
 *   P = x*m = xh*mh * 2^32 + (xl*mh + xh*ml) * 2^16 + xl*ml
 * where xl*ml < 2^32 (unsigned), 0 <= xl*mh < 2^31 and |xh*ml| < 2^31: each cross product is
 * added into the 64-bit (hi:lo) as (p << 16, p >> 16) with ADDS/ADCS, then
 * y = floor((P + 2^30) / 2^31) = 2*hi + bit 31 of lo + bit 30 of lo (LSRS #31 leaves bit 30 in
 * the carry). 20 instructions, then the rounding shift in 5 (the ARMv7-M form, with no branch
 * on the sign of the shift). benchmarks/requant_qemu.py runs it in QEMU against
 * ofa_requant_ref.
 */
OFA_INLINE int32_t ofa_requant(int32_t x, int32_t multiplier, int shift)
{
    /* no branch on the shift: a shift by 0 (by register) changes nothing, not even the carry */
    const int32_t left = shift > 0 ? shift : 0, e = shift < 0 ? -shift : 0;
    int32_t xs = (int32_t)((uint32_t)x << left);
    int32_t m = multiplier;
    int32_t lo, hi, t;
    __asm__(".syntax unified\n\t"
            "lsrs %[t], %[m], #16\n\t"        /* t = mh */
            "uxth %[m], %[m]\n\t"             /* m = ml */
            "uxth %[lo], %[x]\n\t"            /* lo = xl */
            "asrs %[x], %[x], #16\n\t"        /* x = xh */
            "movs %[hi], %[lo]\n\t"
            "muls %[hi], %[t], %[hi]\n\t"      /* hi = xl * mh */
            "muls %[lo], %[m], %[lo]\n\t"      /* lo = xl * ml */
            "muls %[m], %[x], %[m]\n\t"        /* m = xh * ml */
            "muls %[x], %[t], %[x]\n\t"        /* x = xh * mh: (x:lo) = xh*mh*2^32 + xl*ml */
            "lsls %[t], %[hi], #16\n\t"
            "lsrs %[hi], %[hi], #16\n\t"
            "adds %[lo], %[lo], %[t]\n\t"
            "adcs %[x], %[hi]\n\t"             /* + xl*mh * 2^16 */
            "lsls %[t], %[m], #16\n\t"
            "asrs %[m], %[m], #16\n\t"
            "adds %[lo], %[lo], %[t]\n\t"
            "adcs %[x], %[m]\n\t"              /* + xh*ml * 2^16: (x:lo) = P */
            "lsrs %[lo], %[lo], #31\n\t"       /* C = bit 30 */
            "adcs %[lo], %[x]\n\t"
            "adds %[lo], %[lo], %[x]"           /* y = 2*hi + bit 31 + bit 30 */
            : [x] "+l"(xs), [m] "+l"(m), [lo] "=&l"(lo), [hi] "=&l"(hi), [t] "=&l"(t)
            :
            : "cc");
    /*
     * the rounding shift by e: t = y + (y >> 31) sets the carry to (y < 0); ASRS by e >= 1 sets it
     * to bit e-1 of t, by e == 0 leaves it, so ADCS gives (t >> e) + bit e-1, or y when e == 0
     */
    __asm__(".syntax unified\n\t"
            "asrs %[t], %[y], #31\n\t"
            "adds %[y], %[y], %[t]\n\t"
            "movs %[t], #0\n\t"
            "asrs %[y], %[e]\n\t"
            "adcs %[y], %[t]"
            : [y] "+l"(lo), [t] "=&l"(t)
            : [e] "l"(e)
            : "cc");
    return lo;
}
#else
OFA_INLINE int32_t ofa_requant(int32_t x, int32_t multiplier, int shift)
{
    const int left = shift > 0 ? shift : 0;
    const int right = shift > 0 ? 0 : -shift;
    const int32_t xs = (int32_t)((uint32_t)x << left);
    const int32_t y = (int32_t)(((int64_t)xs * (int64_t)multiplier + ((int64_t)1 << 30)) >> 31);
    int32_t t;
    if (right == 0) {
        return y;
    }
    /* the assembly form's steps in C: t = y - (y < 0), then t >> e rounded by bit e-1 of t */
    t = y + (y >> 31);
    return (t >> right) + ((t >> (right - 1)) & 1);
}
#endif

OFA_INLINE int32_t ofa_clamp(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

/* The full output stage of conv / depthwise / fully connected. */
OFA_INLINE int8_t ofa_output_s8(int32_t acc, int32_t multiplier, int shift,
                                int32_t out_offset, int32_t act_min, int32_t act_max)
{
    return (int8_t)ofa_clamp(ofa_requant(acc, multiplier, shift) + out_offset, act_min, act_max);
}

#if OFA_USE_DSP
/*
 * The output stage of the DSP kernels, in two parts, for right shifts only (e = -shift >= 1;
 * callers take ofa_output_s8 for any other shift):
 *
 *   ofa_output_sat8(acc, m, e, off)  ofa_requant(acc, m, -e) + off saturated to [-128, 127]:
 *                                    the 6-instruction rounding of ofa_requant with the offset
 *                                    added by its last ADC, then SSAT (7 instructions); only
 *                                    the low byte of e counts (as for ASR by a register), so
 *                                    e may be a word of four shifts shifted down (ofa_neg_shifts4);
 *   ofa_clamp4_s8(v, lo4, hi4)       four such results packed in the bytes of v, each clamped
 *                                    to [lo, hi] (lo4, hi4: lo and hi in every byte, ofa_dup8)
 *                                    with SSUB8 + SEL (4 instructions for four outputs).
 *
 * With -128 <= lo <= hi <= 127, clamping to [-128, 127] first and to [lo, hi] after gives
 * ofa_clamp(x, lo, hi), so byte k of ofa_clamp4_s8(pack of ofa_output_sat8(acc_k, ...)) equals
 * ofa_output_s8(acc_k, m, -e, off, lo, hi). benchmarks/requant_qemu.py runs both in QEMU against
 * ofa_requant_ref.
 */
OFA_INLINE uint32_t ofa_dup8(int32_t v)
{
    return ((uint32_t)v & 0xFFu) * 0x01010101u;
}

/* four int8 shifts, all negative (check with ofa_all_neg4), to their four e = -shift bytes: ~s + 1
 * per byte never carries (~s <= 127) */
OFA_INLINE uint32_t ofa_neg_shifts4(uint32_t s4)
{
    return ~s4 + 0x01010101u;
}

OFA_INLINE int ofa_all_neg4(uint32_t s4)
{
    return (s4 & 0x80808080u) == 0x80808080u;
}

#if defined(OFA_ARM_DSP) && !defined(OFA_NO_ASM)
OFA_INLINE int32_t ofa_output_sat8(int32_t acc, int32_t multiplier, int32_t e, int32_t off)
{
    int32_t lo;
    __asm__("smull %[lo], %[a], %[a], %[m]\n\t"
            "lsrs %[lo], %[lo], #31\n\t"
            "adc %[a], %[lo], %[a], lsl #1\n\t"
            "add %[a], %[a], %[a], asr #31\n\t"
            "asrs %[a], %[a], %[e]\n\t"
            "adc %[a], %[a], %[off]\n\t"
            "ssat %[a], #8, %[a]"
            : [lo] "=&r"(lo), [a] "+&r"(acc)
            : [m] "r"(multiplier), [e] "r"(e), [off] "r"(off)
            : "cc");
    return acc;
}

/* bytes 0..3 = v0..v3 (each already in [-128, 127]) clamped to [lo, hi] */
OFA_INLINE uint32_t ofa_clamp4_s8(int32_t v0, int32_t v1, int32_t v2, int32_t v3, uint32_t lo4, uint32_t hi4)
{
    uint32_t t;
    __asm__("bfi %[v], %[v1], #8, #8\n\t"
            "bfi %[v], %[v2], #16, #8\n\t"
            "bfi %[v], %[v3], #24, #8\n\t"
            "ssub8 %[t], %[v], %[lo]\n\t"
            "sel %[v], %[v], %[lo]\n\t"
            "ssub8 %[t], %[hi], %[v]\n\t"
            "sel %[v], %[v], %[hi]"
            : [v] "+&r"(v0), [t] "=&r"(t)
            : [v1] "r"(v1), [v2] "r"(v2), [v3] "r"(v3), [lo] "r"(lo4), [hi] "r"(hi4)
            : "cc");
    return (uint32_t)v0;
}
#else
OFA_INLINE int32_t ofa_output_sat8(int32_t acc, int32_t multiplier, int32_t e, int32_t off)
{
    return ofa_clamp(ofa_requant(acc, multiplier, -(int)(e & 0xFF)) + off, -128, 127);
}

OFA_INLINE uint32_t ofa_clamp4_s8(int32_t v0, int32_t v1, int32_t v2, int32_t v3, uint32_t lo4, uint32_t hi4)
{
    const int32_t lo = (int8_t)(uint8_t)(lo4 & 0xFFu), hi = (int8_t)(uint8_t)(hi4 & 0xFFu);
    return ((uint32_t)(uint8_t)ofa_clamp(v0, lo, hi)) | ((uint32_t)(uint8_t)ofa_clamp(v1, lo, hi) << 8) |
           ((uint32_t)(uint8_t)ofa_clamp(v2, lo, hi) << 16) | ((uint32_t)(uint8_t)ofa_clamp(v3, lo, hi) << 24);
}
#endif
#endif

#endif /* OFA_REQUANT_H */
