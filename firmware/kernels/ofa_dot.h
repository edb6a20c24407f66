/*
 * ofa_dot.h - internal int8 dot-product helpers used by conv, pointwise and
 * fully connected. Not part of the public API.
 *
 * Portable C everywhere; on cores with the DSP extension (Cortex-M4/M7/M33
 * with DSP) the loops take four int8 pairs at a time:
 *   SXTB16 / SXTAB16 split a word of four int8 into two int16x2 values
 *   (bytes 0,2 and, after a rotate by 8, bytes 1,3), SXTAB16 adding the
 *   input offset on the way; SMLAD multiplies both halves and adds both
 *   products to the accumulator. Operands stay within int16 ((x + off) is in
 *   [-255, 255], w in [-128, 127]) and the accumulator wraps exactly like the
 *   portable int32 sum, so both paths give identical results.
 */
#ifndef OFA_DOT_H
#define OFA_DOT_H

#include <stdint.h>
#include <string.h>

#include "ofa_requant.h"

#if OFA_USE_DSP
#if defined(OFA_ARM_DSP)
/* the real instructions, through the ACLE intrinsics */
OFA_INLINE int32_t ofa_sxtb16(int32_t x) { return __sxtb16(x); }
OFA_INLINE int32_t ofa_sxtab16(int32_t a, int32_t x) { return __sxtab16(a, x); }
OFA_INLINE int32_t ofa_smlad(int32_t a, int32_t b, int32_t acc) { return __smlad(a, b, acc); }
OFA_INLINE int32_t ofa_smlabb(int32_t a, int32_t b, int32_t acc) { return __smlabb(a, b, acc); }
OFA_INLINE int32_t ofa_smlatt(int32_t a, int32_t b, int32_t acc) { return __smlatt(a, b, acc); }
OFA_INLINE int32_t ofa_smlatb(int32_t a, int32_t b, int32_t acc) { return __smlatb(a, b, acc); }
/* the rotated forms (ACLE has no intrinsic for them; gcc does not fold a rotate into SXTB16) */
OFA_INLINE int32_t ofa_sxtb16_ror8(int32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
OFA_INLINE int32_t ofa_sxtab16_ror8(int32_t a, int32_t x)
{
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}
#else
/* plain-C models of the same instructions (OFA_EMULATE_DSP, host tests) */
OFA_INLINE int32_t ofa_lo16(int32_t x) { return (int32_t)(int16_t)(uint16_t)((uint32_t)x & 0xFFFFu); }
OFA_INLINE int32_t ofa_hi16(int32_t x) { return (int32_t)(int16_t)(uint16_t)((uint32_t)x >> 16); }
OFA_INLINE int32_t ofa_pack16(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16));
}
OFA_INLINE int32_t ofa_sxtb16(int32_t x)
{
    return ofa_pack16((int8_t)(uint8_t)((uint32_t)x & 0xFFu), (int8_t)(uint8_t)(((uint32_t)x >> 16) & 0xFFu));
}
OFA_INLINE int32_t ofa_sxtab16(int32_t a, int32_t x)
{
    return ofa_pack16(ofa_lo16(a) + ofa_lo16(ofa_sxtb16(x)), ofa_hi16(a) + ofa_hi16(ofa_sxtb16(x)));
}
OFA_INLINE int32_t ofa_smlad(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(ofa_lo16(a) * ofa_lo16(b)) + (uint32_t)(ofa_hi16(a) * ofa_hi16(b)));
}
OFA_INLINE int32_t ofa_smlabb(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(ofa_lo16(a) * ofa_lo16(b)));
}
OFA_INLINE int32_t ofa_smlatt(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(ofa_hi16(a) * ofa_hi16(b)));
}
OFA_INLINE int32_t ofa_smlatb(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(ofa_hi16(a) * ofa_lo16(b)));
}
OFA_INLINE int32_t ofa_sxtb16_ror8(int32_t x)
{
    const uint32_t u = (uint32_t)x;
    return ofa_sxtb16((int32_t)((u >> 8) | (u << 24)));
}
OFA_INLINE int32_t ofa_sxtab16_ror8(int32_t a, int32_t x)
{
    const uint32_t u = (uint32_t)x;
    return ofa_sxtab16(a, (int32_t)((u >> 8) | (u << 24)));
}
#endif

/* Four int8 from a possibly unaligned address (LDR on ARMv7E-M). */
OFA_INLINE int32_t ofa_load_s8x4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Two int16 values in one word: lo in bits 0-15, hi in bits 16-31. */
OFA_INLINE int32_t ofa_pk16(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16));
}

/* The input offset in both halfwords, for SXTAB16. */
OFA_INLINE int32_t ofa_dup16(int32_t v)
{
    return (int32_t)(((uint32_t)v & 0xFFFFu) | ((uint32_t)v << 16));
}
#endif

/* sum_{i<n} w[i] * (x[i] + off) */
OFA_INLINE int32_t ofa_dot_off_s8(const int8_t *x, const int8_t *w, int32_t n, int32_t off)
{
    int32_t acc = 0;
    int32_t i = 0;
#if OFA_USE_DSP
    const int32_t off2 = ofa_dup16(off);
    for (; i + 4 <= n; i += 4) {
        const int32_t xv = ofa_load_s8x4(x + i);
        const int32_t wv = ofa_load_s8x4(w + i);
        acc = ofa_smlad(ofa_sxtab16(off2, xv), ofa_sxtb16(wv), acc);
        acc = ofa_smlad(ofa_sxtab16_ror8(off2, xv), ofa_sxtb16_ror8(wv), acc);
    }
#endif
    for (; i < n; ++i) {
        acc += (int32_t)w[i] * ((int32_t)x[i] + off);
    }
    return acc;
}

/* Two weight rows against one input row: acc[j] += w_j . (x + off). */
OFA_INLINE void ofa_dot2_off_s8(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n,
                                int32_t off, int32_t *acc0, int32_t *acc1)
{
    int32_t a0 = *acc0;
    int32_t a1 = *acc1;
    int32_t i = 0;
#if OFA_USE_DSP
    const int32_t off2 = ofa_dup16(off);
    for (; i + 4 <= n; i += 4) {
        const int32_t xv = ofa_load_s8x4(x + i);
        const int32_t x02 = ofa_sxtab16(off2, xv);
        const int32_t x13 = ofa_sxtab16_ror8(off2, xv);
        const int32_t v0 = ofa_load_s8x4(w0 + i);
        const int32_t v1 = ofa_load_s8x4(w1 + i);
        a0 = ofa_smlad(x02, ofa_sxtb16(v0), a0);
        a0 = ofa_smlad(x13, ofa_sxtb16_ror8(v0), a0);
        a1 = ofa_smlad(x02, ofa_sxtb16(v1), a1);
        a1 = ofa_smlad(x13, ofa_sxtb16_ror8(v1), a1);
    }
#endif
    for (; i < n; ++i) {
        const int32_t xi = (int32_t)x[i] + off;
        a0 += (int32_t)w0[i] * xi;
        a1 += (int32_t)w1[i] * xi;
    }
    *acc0 = a0;
    *acc1 = a1;
}

/*
 * 2x2 block: acc[2*a + b] += w_b . (x_a + off) for inputs x0, x1 and weight
 * rows w0, w1. On DSP cores the offset is free (SXTAB16 adds it while it
 * widens); portable callers fold it into the bias and pass off = 0.
 */
OFA_INLINE void ofa_dot2x2_s8(const int8_t *x0, const int8_t *x1, const int8_t *w0,
                              const int8_t *w1, int32_t n, int32_t off, int32_t acc[4])
{
    int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0;
    int32_t i = 0;
#if OFA_USE_DSP
    const int32_t off2 = ofa_dup16(off);
    for (; i + 4 <= n; i += 4) {
        const int32_t v0 = ofa_load_s8x4(w0 + i);
        const int32_t v1 = ofa_load_s8x4(w1 + i);
        const int32_t u0 = ofa_load_s8x4(x0 + i);
        const int32_t u1 = ofa_load_s8x4(x1 + i);
        const int32_t w0a = ofa_sxtb16(v0), w0b = ofa_sxtb16_ror8(v0);
        const int32_t w1a = ofa_sxtb16(v1), w1b = ofa_sxtb16_ror8(v1);
        const int32_t x0a = ofa_sxtab16(off2, u0), x0b = ofa_sxtab16_ror8(off2, u0);
        const int32_t x1a = ofa_sxtab16(off2, u1), x1b = ofa_sxtab16_ror8(off2, u1);
        a00 = ofa_smlad(x0a, w0a, a00);
        a00 = ofa_smlad(x0b, w0b, a00);
        a01 = ofa_smlad(x0a, w1a, a01);
        a01 = ofa_smlad(x0b, w1b, a01);
        a10 = ofa_smlad(x1a, w0a, a10);
        a10 = ofa_smlad(x1b, w0b, a10);
        a11 = ofa_smlad(x1a, w1a, a11);
        a11 = ofa_smlad(x1b, w1b, a11);
    }
#endif
    for (; i < n; ++i) {
        const int32_t wa = w0[i], wb = w1[i];
        const int32_t xa = x0[i] + off, xb = x1[i] + off;
        a00 += xa * wa;
        a01 += xa * wb;
        a10 += xb * wa;
        a11 += xb * wb;
    }
    acc[0] += a00;
    acc[1] += a01;
    acc[2] += a10;
    acc[3] += a11;
}

/* (not at -Os: gcc then keeps Thumb-1 code off r8-r11, where the loop keeps its sums) */
#if defined(__ARM_ARCH_ISA_THUMB) && __ARM_ARCH_ISA_THUMB == 1 && defined(__GNUC__) && defined(__OPTIMIZE__) && \
    !defined(__OPTIMIZE_SIZE__) && !defined(OFA_NO_ASM)
#define OFA_M0_ASM 1
/*
 * ARMv6-M (Cortex-M0/M0+): the 2x2 block without an input offset, acc[2*a + b] += w_b . x_a,
 * n >= 1. Thumb-1 has eight low registers, LDRSB only with a register offset and a two-operand
 * MULS that overwrites one factor, and gcc spills the C loop's four bases and four sums. Here the
 * four rows are addressed from their ends with one index counting up to 0 (its ADDS sets the
 * flags for the branch), the sums live in four high registers (ADD reaches them), and one input
 * byte is loaded twice instead of copied: 5 loads, 4 MULS, 4 ADD and 2 loop instructions per 4
 * MACs (3.75 per MAC). Integer results are those of the C loop (int32 sums wrap alike).
 */
OFA_INLINE void ofa_dot2x2_m0(const int8_t *x0, const int8_t *x1, const int8_t *w0, const int8_t *w1, int32_t n,
                              int32_t acc[4])
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    int32_t i = -n, a, b;
    /* four distinct values for gcc (equal initial sums in one register cannot be four outputs) */
    __asm__("" : "+g"(a00), "+g"(a01), "+g"(a10), "+g"(a11));
    __asm__(".syntax unified\n"
            "1:\n\t"
            "ldrsb %[a], [%[x0], %[i]]\n\t"
            "ldrsb %[b], [%[w0], %[i]]\n\t"
            "muls %[a], %[b], %[a]\n\t"
            "add %[a00], %[a]\n\t"
            "ldrsb %[a], [%[x1], %[i]]\n\t"
            "muls %[b], %[a], %[b]\n\t"
            "add %[a10], %[b]\n\t"
            "ldrsb %[b], [%[w1], %[i]]\n\t"
            "muls %[a], %[b], %[a]\n\t"
            "add %[a11], %[a]\n\t"
            "ldrsb %[a], [%[x0], %[i]]\n\t"
            "muls %[a], %[b], %[a]\n\t"
            "add %[a01], %[a]\n\t"
            "adds %[i], %[i], #1\n\t"
            "bne 1b"
            : [a] "=&l"(a), [b] "=&l"(b), [i] "+l"(i), [a00] "+h"(a00), [a01] "+h"(a01), [a10] "+h"(a10),
              [a11] "+h"(a11)
            : [x0] "l"(x0 + n), [x1] "l"(x1 + n), [w0] "l"(w0 + n), [w1] "l"(w1 + n)
            : "cc", "memory");
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* ofa_dot2x2_m0 with the input offset added to each input byte: acc[2*a + b] += w_b . (x_a + off) */
OFA_INLINE void ofa_dot2x2_off_m0(const int8_t *x0, const int8_t *x1, const int8_t *w0, const int8_t *w1, int32_t n,
                                  int32_t off, int32_t acc[4])
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    int32_t i = -n, a, b;
    __asm__("" : "+g"(a00), "+g"(a01), "+g"(a10), "+g"(a11));
    __asm__(".syntax unified\n"
            "1:\n\t"
            "ldrsb %[a], [%[x0], %[i]]\n\t"
            "add %[a], %[off]\n\t"
            "ldrsb %[b], [%[w0], %[i]]\n\t"
            "muls %[a], %[b], %[a]\n\t"
            "add %[a00], %[a]\n\t"
            "ldrsb %[a], [%[x1], %[i]]\n\t"
            "add %[a], %[off]\n\t"
            "muls %[b], %[a], %[b]\n\t"
            "add %[a10], %[b]\n\t"
            "ldrsb %[b], [%[w1], %[i]]\n\t"
            "muls %[a], %[b], %[a]\n\t"
            "add %[a11], %[a]\n\t"
            "ldrsb %[a], [%[x0], %[i]]\n\t"
            "add %[a], %[off]\n\t"
            "muls %[a], %[b], %[a]\n\t"
            "add %[a01], %[a]\n\t"
            "adds %[i], %[i], #1\n\t"
            "bne 1b"
            : [a] "=&l"(a), [b] "=&l"(b), [i] "+l"(i), [a00] "+h"(a00), [a01] "+h"(a01), [a10] "+h"(a10),
              [a11] "+h"(a11)
            : [x0] "l"(x0 + n), [x1] "l"(x1 + n), [w0] "l"(w0 + n), [w1] "l"(w1 + n), [off] "h"(off)
            : "cc", "memory");
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}
#endif

/* sum of n int8 weights (for folding the input offset into the bias) */
OFA_INLINE int32_t ofa_sum_s8(const int8_t *w, int32_t n)
{
    int32_t s = 0;
    int32_t i;
    for (i = 0; i < n; ++i) {
        s += w[i];
    }
    return s;
}

#endif /* OFA_DOT_H */
