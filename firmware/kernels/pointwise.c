/*
 * pointwise.c - int8 1x1 CONV_2D, stride 1, no padding: the fast path for the
 * expand and project convolutions of inverted residual blocks.
 *
 * Same arithmetic as conv.c, blocked 2 output channels (outer loop: their
 * bias, multiplier and shift stay in registers) x 2 pixels. On DSP cores the
 * input offset is added for free while SXTAB16 widens the inputs; channel pairs
 * with right shifts and in_c a multiple of 4 (all of them in practice) take an
 * assembly inner loop (pw_dot2x2) and the four-output stage of ofa_requant.h
 * (ofa_output_sat8 + ofa_clamp4_s8, 2 halfword stores). Portable
 * code folds it into the bias when the layer has enough pixels to pay for
 * the weight sum: with no padding every tap is in the image, so
 * sum w * (x + in_offset) = sum w * x + in_offset * sum w exactly (int32
 * arithmetic is a ring). Where every channel pair of a layer takes the DSP path
 * (ofa_pointwise_variant), generated models call ofa_pointwise_s8_pairs, which has no other loop.
 */

#include <string.h>

#include "ofa_kernels.h"
#include "ofa_dot.h"
#include "ofa_requant.h"

/* portable code folds the input offset into the bias from this many pixels on (ARMv6-M: from
 * one 2-pixel block on, its assembly loop has no offset) */
#if defined(OFA_M0_ASM)
#define OFA_PW_FOLD_PIXELS 2
#else
#define OFA_PW_FOLD_PIXELS 8
#endif

#if OFA_USE_DSP
#if defined(OFA_ARM_DSP) && !defined(OFA_NO_ASM)
/*
 * Four input channels of the 2 pixel x 2 channel block: the two input words (pixel 1 at
 * x + n) widened with the offset added (SXTAB16), then each weight word (row 1 at w + n)
 * widened (SXTB16) and used by four SMLADs: 20 instructions for 16 MACs.
 */
#define PW_STEP4                                              \
    "ldr %[t0], [%[x], %[n]]\n\t"                              \
    "ldr %[t1], [%[x]], #4\n\t"                                \
    "sxtab16 %[t2], %[off], %[t1]\n\t"                         \
    "sxtab16 %[t1], %[off], %[t1], ror #8\n\t"                 \
    "sxtab16 %[t3], %[off], %[t0]\n\t"                         \
    "sxtab16 %[t0], %[off], %[t0], ror #8\n\t"                 \
    "ldr %[t4], [%[w], %[n]]\n\t"                              \
    "sxtb16 %[t5], %[t4]\n\t"                                  \
    "sxtb16 %[t4], %[t4], ror #8\n\t"                          \
    "smlad %[a01], %[t2], %[t5], %[a01]\n\t"                   \
    "smlad %[a11], %[t3], %[t5], %[a11]\n\t"                   \
    "smlad %[a01], %[t1], %[t4], %[a01]\n\t"                   \
    "smlad %[a11], %[t0], %[t4], %[a11]\n\t"                   \
    "ldr %[t4], [%[w]], #4\n\t"                                \
    "sxtb16 %[t5], %[t4]\n\t"                                  \
    "sxtb16 %[t4], %[t4], ror #8\n\t"                          \
    "smlad %[a00], %[t2], %[t5], %[a00]\n\t"                   \
    "smlad %[a10], %[t3], %[t5], %[a10]\n\t"                   \
    "smlad %[a00], %[t1], %[t4], %[a00]\n\t"                   \
    "smlad %[a10], %[t0], %[t4], %[a10]\n\t"

#define PW_OPERANDS                                                                              \
    [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [x] "+r"(x), [w] "+r"(w), \
    [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3), [t4] "=&r"(t4), [t5] "=&r"(t5)
#endif

/*
 * The DSP block: acc[2a + b] += w_b . (x_a + off) for pixels x_a = x + a n and rows
 * w_b = w + b n, n a multiple of 4 (>= 4); returns x + n. On Cortex-M the loop is assembly, 8
 * channels a pass (entered at its second half when n % 8 == 4), all fourteen registers in use, so
 * nothing spills: it stops when its copy of w reaches *w_end = w + n (the same for every block of
 * a channel pair, read from the stack).
 */
OFA_INLINE const int8_t *pw_dot2x2(const int8_t *x, const int8_t *w, const int8_t *const *w_end, int32_t n,
                                   int32_t off2, int32_t acc[4])
{
#if defined(OFA_ARM_DSP) && !defined(OFA_NO_ASM)
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    int32_t t0, t1, t2, t3, t4, t5;
    __asm__ volatile("tst %[n], #4\n\t"
                     "bne 2f\n\t"
                     "1:\n\t" PW_STEP4
                     "2:\n\t" PW_STEP4
                     "ldr %[t0], %[end]\n\t"
                     "cmp %[w], %[t0]\n\t"
                     "bne 1b"
                     : PW_OPERANDS
                     : [n] "r"(n), [off] "r"(off2), [end] "m"(*w_end)
                     : "cc", "memory");
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
    return x;
#else
    int32_t a[4] = {0, 0, 0, 0};
    (void)w_end;
    ofa_dot2x2_s8(x, x + n, w, w + n, n, (int16_t)off2, a);
    acc[0] += a[0];
    acc[1] += a[1];
    acc[2] += a[2];
    acc[3] += a[3];
    return x + n;
#endif
}

/* the four bytes of v: two at y, two at y + oc; returns y + 2 oc */
OFA_INLINE int8_t *pw_store2x2(int8_t *y, uint32_t v, int32_t oc)
{
#if defined(OFA_ARM_DSP) && !defined(OFA_NO_ASM)
    __asm__ volatile("strh %[v], [%[y]]\n\t"
                     "lsrs %[v], %[v], #16\n\t"
                     "strh %[v], [%[y], %[oc]]\n\t"
                     "add %[y], %[y], %[oc], lsl #1"
                     : [y] "+r"(y), [v] "+r"(v)
                     : [oc] "r"(oc)
                     : "cc", "memory");
    return y;
#else
    uint16_t h = (uint16_t)v;
    memcpy(y, &h, 2);
    h = (uint16_t)(v >> 16);
    memcpy(y + oc, &h, 2);
    return y + 2 * oc;
#endif
}

/*
 * One pair of output channels (rows w, w + in_c; requantization (m0, -e0), (m1, -e1), e >= 1)
 * over all pixels, two at a time; out points at channel oc of pixel 0. Per block of 2 pixels x 2
 * channels: the dot loop, the four-output stage (each channel's multiplier and shift loaded once
 * for its two pixels), two halfword stores; x and y are the only pointers that move.
 */
static void pw_pair_dsp(const ofa_conv_params_t *p, const int8_t *x, const int8_t *w, int8_t *y, int32_t npix,
                        int32_t b0, int32_t b1, int32_t m0, int32_t m1, int32_t e0, int32_t e1)
{
    const int32_t in_c = p->in_c, out_c = p->out_c;
    const int32_t off = p->out_offset, off2 = ofa_dup16(p->in_offset);
    const uint32_t lo4 = ofa_dup8(p->act_min), hi4 = ofa_dup8(p->act_max);
    const int8_t *const x_end = x + (npix & ~1) * in_c;
    const int8_t *const w_end = w + in_c;

    while (x != x_end) {
        int32_t acc[4], y0, y1, y2, y3;
        acc[0] = b0;
        acc[1] = b1;
        acc[2] = b0;
        acc[3] = b1;
        x = pw_dot2x2(x, w, &w_end, in_c, off2, acc) + in_c;
        y0 = ofa_output_sat8(acc[0], m0, e0, off);
        y2 = ofa_output_sat8(acc[2], m0, e0, off);
        y1 = ofa_output_sat8(acc[1], m1, e1, off);
        y3 = ofa_output_sat8(acc[3], m1, e1, off);
        y = pw_store2x2(y, ofa_clamp4_s8(y0, y1, y2, y3, lo4, hi4), out_c);
    }
    if (npix & 1) {
        int32_t a0 = b0, a1 = b1;
        ofa_dot2_off_s8(x, w, w + in_c, in_c, p->in_offset, &a0, &a1);
        y[0] = ofa_output_s8(a0, m0, -e0, off, p->act_min, p->act_max);
        y[1] = ofa_output_s8(a1, m1, -e1, off, p->act_min, p->act_max);
    }
}
#endif

/* path: PW_ANY, the pair path where a channel pair can take it; PW_PAIRS, every channel pair takes the DSP
 * pair path (ofa_pointwise_variant), no other loop; PW_PLAIN, the C loop only (no pair path: about 1 KB
 * less code on DSP cores, the generator's compact choice) */
enum { PW_ANY = 0, PW_PAIRS = 1, PW_PLAIN = 2 };
OFA_INLINE void pw_s8(const ofa_conv_params_t *restrict p, const int8_t *restrict input, int8_t *restrict output,
                      int path)
{
    (void)path; /* portable builds have no pair path */
    const int32_t npix = (int32_t)p->out_h * p->out_w;
    const int32_t in_c = p->in_c, out_c = p->out_c;
#if OFA_USE_DSP
    const int fold = 0;
#else
    const int fold = npix >= OFA_PW_FOLD_PIXELS;
#endif
    const int32_t in_off = p->in_offset;
    const int32_t dot_off = fold ? 0 : in_off;
    const int32_t out_off = p->out_offset, lo = p->act_min, hi = p->act_max;
    int32_t oc;

    for (oc = 0; oc < out_c; oc += 2) {
        const int two = (oc + 1) < out_c;
        const int32_t oc1 = two ? oc + 1 : oc;
        const int8_t *w0 = p->weights + oc * in_c;
        const int8_t *w1 = p->weights + oc1 * in_c;
        const int32_t base0 = (p->bias ? p->bias[oc] : 0) + (fold ? in_off * ofa_sum_s8(w0, in_c) : 0);
        const int32_t base1 = (p->bias ? p->bias[oc1] : 0) + (fold ? in_off * ofa_sum_s8(w1, in_c) : 0);
        const int32_t m0 = p->out_mult[oc], m1 = p->out_mult[oc1];
        const int s0 = p->out_shift[oc], s1 = p->out_shift[oc1];
        const int8_t *x = input;
        int8_t *y = output + oc;
        int32_t pix;

#if OFA_USE_DSP
        if (path == PW_PAIRS || (path == PW_ANY && two && s0 < 0 && s1 < 0 && (in_c & 3) == 0)) {
            pw_pair_dsp(p, x, w0, y, npix, base0, base1, m0, m1, -s0, -s1);
            continue;
        }
#endif

        for (pix = 0; pix + 2 <= npix; pix += 2) {
            int32_t acc[4];
            acc[0] = base0;
            acc[1] = base1;
            acc[2] = base0;
            acc[3] = base1;
#if defined(OFA_M0_ASM)
            ofa_dot2x2_m0(x, x + in_c, w0, w1, in_c, acc);
#else
            ofa_dot2x2_s8(x, x + in_c, w0, w1, in_c, dot_off, acc);
#endif
            y[0] = ofa_output_s8(acc[0], m0, s0, out_off, lo, hi);
            y[out_c] = ofa_output_s8(acc[2], m0, s0, out_off, lo, hi);
            if (two) {
                y[1] = ofa_output_s8(acc[1], m1, s1, out_off, lo, hi);
                y[out_c + 1] = ofa_output_s8(acc[3], m1, s1, out_off, lo, hi);
            }
            x += 2 * in_c;
            y += 2 * out_c;
        }
        if (pix < npix) {
            int32_t a0 = base0, a1 = base1;
            ofa_dot2_off_s8(x, w0, w1, in_c, dot_off, &a0, &a1);
            y[0] = ofa_output_s8(a0, m0, s0, out_off, lo, hi);
            if (two) {
                y[1] = ofa_output_s8(a1, m1, s1, out_off, lo, hi);
            }
        }
    }
}

/*
 * The variant a layer runs (an ofa_pointwise_variant_t): on DSP cores, OFA_PW_VARIANT_PAIRS when every
 * channel pair takes the pair path of ofa_pointwise_s8 (an even out_c, in_c a multiple of 4, every
 * shift a right shift); OFA_PW_VARIANT_ANY otherwise and on other cores. ofa_mcu/native/variants.py
 * makes the same choice for the code generator.
 */
int ofa_pointwise_variant(const ofa_conv_params_t *p)
{
#if OFA_USE_DSP
    int32_t c;
    if ((p->out_c & 1) != 0 || (p->in_c & 3) != 0) {
        return OFA_PW_VARIANT_ANY;
    }
    for (c = 0; c < p->out_c; ++c) {
        if (p->out_shift[c] >= 0) {
            return OFA_PW_VARIANT_ANY;
        }
    }
    return OFA_PW_VARIANT_PAIRS;
#else
    (void)p;
    return OFA_PW_VARIANT_ANY;
#endif
}

void ofa_pointwise_s8(const ofa_conv_params_t *restrict p, const int8_t *restrict input,
                      int8_t *restrict output)
{
    pw_s8(p, input, output, PW_ANY);
}

#if OFA_USE_DSP
/* the pair path only: layers ofa_pointwise_variant calls OFA_PW_VARIANT_PAIRS (the generator's choice) */
void ofa_pointwise_s8_pairs(const ofa_conv_params_t *restrict p, const int8_t *restrict input,
                            int8_t *restrict output)
{
    pw_s8(p, input, output, PW_PAIRS);
}

/* the C loop only, for any layer (the generator's compact choice: no pair path linked) */
void ofa_pointwise_s8_plain(const ofa_conv_params_t *restrict p, const int8_t *restrict input,
                            int8_t *restrict output)
{
    pw_s8(p, input, output, PW_PLAIN);
}
#endif
