/*
 * conv.c - int8 CONV_2D, any kernel size, stride and padding: the patch loop and the row loop
 * described in ofa_conv_core.h, shared with the conv + ADD kernel (conv_add.c). ofa_conv_variant
 * chooses the loop from the shape; each loop, with and without the ADD, is also an entry point of
 * its own (ofa_conv_s8_patch, ofa_conv_s8_rows, ofa_conv_add_s8_patch, ofa_conv_add_s8_rows), which
 * generated models call directly.
 */
#include <string.h>

#include "ofa_conv_core.h"

/*
 * windows of up to this many bytes (k_h * k_w * in_c) with in_c < OFA_CONV_PATCH_MAX_C use the patch loop
 * (DSP cores: 64, the two widened windows on the stack take four times that; variants.py mirrors it)
 */
#if OFA_USE_DSP
#define OFA_CONV_PATCH_BYTES 64
#else
#define OFA_CONV_PATCH_BYTES 128
#endif
#define OFA_CONV_PATCH_MAX_C 8

/* the ADD of a conv + ADD result, out of line: it is rare and the store sites are many */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void ofa_conv_store_add(int8_t *out, int8_t r, const ofa_add_params_t *add)
{
    *out = ofa_add_one_s8(add, r, *out);
}

OFA_INLINE void ofa_conv_store(int8_t *out, int8_t r, const ofa_add_params_t *add)
{
    if (add) {
        ofa_conv_store_add(out, r, add);
    } else {
        *out = r;
    }
}

/*
 * The window of the output pixel whose first tap is (iy0, ix0) into patch[0, n4): its in-image
 * taps copied, out-of-image taps and the tail past k_h * k_w * in_c set to the zero point.
 */
OFA_NO_LIBCALLS static void ofa_conv_gather(const ofa_conv_params_t *restrict p, const int8_t *restrict input,
                                            int32_t iy0, int32_t ix0, int8_t *restrict patch, int32_t n4)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, k_h = p->k_h, k_w = p->k_w;
    const int32_t row = k_w * in_c;
    const int32_t row_stride = in_w * in_c;
    const int8_t zp = (int8_t)(-p->in_offset);
    const int32_t kx_begin = ofa_tap_begin(ix0);
    const int32_t kx_end = ofa_tap_end(ix0, in_w, k_w);
    const int32_t lead = kx_begin * in_c;
    const int32_t body = kx_end > kx_begin ? (kx_end - kx_begin) * in_c : 0;
    int8_t *d = patch;
    int32_t ky, i;
    for (ky = 0; ky < k_h; ++ky, d += row) {
        const int32_t iy = iy0 + ky;
        const int in_image = iy >= 0 && iy < in_h;
        const int8_t *src = input + (in_image ? iy * row_stride + (ix0 + kx_begin) * in_c : 0);
        const int32_t copy_end = in_image ? lead + body : 0;
        for (i = 0; i < lead && in_image; ++i) {
            d[i] = zp;
        }
        if (in_image) {
#if !(defined(__ARM_ARCH_ISA_THUMB) && __ARM_ARCH_ISA_THUMB == 1)
            /* (not on ARMv6-M: no unaligned word access there, the 4-byte memcpy is a library call) */
            for (i = lead; i + 4 <= copy_end; i += 4) {
                uint32_t v;
                memcpy(&v, src + i - lead, 4);
                memcpy(d + i, &v, 4);
            }
#else
            i = lead;
#endif
            for (; i < copy_end; ++i) {
                d[i] = src[i - lead];
            }
        }
        for (i = copy_end; i < row; ++i) {
            d[i] = zp;
        }
    }
    for (i = k_h * row; i < n4; ++i) {
        patch[i] = zp;
    }
}

/* The four results of a 2-pixel x 2-channel block; y0/y1 the pixels' outputs at channel oc. */
OFA_INLINE void ofa_conv_store4(const ofa_conv_params_t *restrict p, int32_t oc, int two_ch, int two_px,
                                const int32_t acc[4], int8_t *y0, int8_t *y1, const ofa_add_params_t *add)
{
    const int32_t m0 = p->out_mult[oc];
    const int s0 = p->out_shift[oc];
    const int32_t out_off = p->out_offset, lo = p->act_min, hi = p->act_max;
    ofa_conv_store(y0, ofa_output_s8(acc[0], m0, s0, out_off, lo, hi), add);
    if (two_px) {
        ofa_conv_store(y1, ofa_output_s8(acc[2], m0, s0, out_off, lo, hi), add);
    }
    if (two_ch) {
        const int32_t m1 = p->out_mult[oc + 1];
        const int s1 = p->out_shift[oc + 1];
        ofa_conv_store(y0 + 1, ofa_output_s8(acc[1], m1, s1, out_off, lo, hi), add);
        if (two_px) {
            ofa_conv_store(y1 + 1, ofa_output_s8(acc[3], m1, s1, out_off, lo, hi), add);
        }
    }
}

#if OFA_USE_DSP
/*
 * DSP cores: the patch loop on widened windows. Each pixel's window, gathered as above, is widened
 * once with the input offset added (SXTAB16) into int16 pairs, per 4 taps the words [taps 0,2]
 * [taps 1,3], and reused by every output channel: a step of 4 taps x 2 pixels x 2 channels is two
 * LDRD, two weight words widened (SXTB16) and eight SMLAD (16 instructions for 16 MACs). The weight
 * rows keep their own stride (k_h * k_w * in_c), so neither the weights nor the window need any
 * padding: the zero-point tail of the widened window (0 after the offset) meets the next row's first
 * weights, except where that would read past the last row; there the 1-3 taps left go one at a time.
 * A pixel's widened window takes OFA_CONV_WIDE_OFF bytes, pixel 1's right after pixel 0's; its
 * bytes are gathered into the upper half of its own widened space and widened in place (the words
 * of taps 4g.. are written at 8g, below the bytes not read yet).
 */
#define OFA_CONV_WIDE_OFF (2 * OFA_CONV_PATCH_BYTES)

#if defined(OFA_ARM_DSP) && !defined(OFA_NO_ASM)
#define OFA_STR2(x) #x
#define OFA_STR(x) OFA_STR2(x)
#define CONV_WIDE_STEP4                                     \
    "ldrd %[t0], %[t1], [%[x], #" OFA_STR(OFA_CONV_WIDE_OFF) "]\n\t" \
    "ldrd %[t2], %[t3], [%[x]], #8\n\t"                    \
    "ldr %[t4], [%[w], %[n]]\n\t"                          \
    "sxtb16 %[t5], %[t4]\n\t"                              \
    "sxtb16 %[t4], %[t4], ror #8\n\t"                      \
    "smlad %[a01], %[t2], %[t5], %[a01]\n\t"               \
    "smlad %[a11], %[t0], %[t5], %[a11]\n\t"               \
    "smlad %[a01], %[t3], %[t4], %[a01]\n\t"               \
    "smlad %[a11], %[t1], %[t4], %[a11]\n\t"               \
    "ldr %[t4], [%[w]], #4\n\t"                            \
    "sxtb16 %[t5], %[t4]\n\t"                              \
    "sxtb16 %[t4], %[t4], ror #8\n\t"                      \
    "smlad %[a00], %[t2], %[t5], %[a00]\n\t"               \
    "smlad %[a10], %[t0], %[t5], %[a10]\n\t"               \
    "smlad %[a00], %[t3], %[t4], %[a00]\n\t"               \
    "smlad %[a10], %[t1], %[t4], %[a10]\n\t"
#define CONV_WIDE_OPERANDS                                                                        \
    [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [x] "+r"(x), [w] "+r"(w), \
    [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3), [t4] "=&r"(t4), [t5] "=&r"(t5)
#endif

/* acc[2a + b] += row b . widened pixel a over `steps` groups of 4 taps: row 0 at w, row 1 at w + n1 */
OFA_INLINE void conv_wide_dot(const uint32_t *wide, const int8_t *w, int32_t n1, int32_t steps, int32_t acc[4])
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
#if defined(OFA_ARM_DSP) && !defined(OFA_NO_ASM)
    const uint32_t *x = wide;
    int32_t t0, t1, t2, t3, t4, t5;
    if (steps >= 2) {
        const uint32_t *const end = wide + 2 * (steps & ~1);
        __asm__ volatile("1:\n\t" CONV_WIDE_STEP4 CONV_WIDE_STEP4
                         "cmp %[x], %[end]\n\t"
                         "bne 1b"
                         : CONV_WIDE_OPERANDS
                         : [n] "r"(n1), [end] "r"(end)
                         : "cc", "memory");
    }
    if (steps & 1) {
        __asm__ volatile(CONV_WIDE_STEP4 : CONV_WIDE_OPERANDS : [n] "r"(n1) : "memory");
    }
#else
    const uint32_t *x1 = wide + OFA_CONV_WIDE_OFF / 4;
    int32_t s;
    for (s = 0; s < steps; ++s, wide += 2, x1 += 2, w += 4) {
        const int32_t v0 = ofa_load_s8x4(w), v1 = ofa_load_s8x4(w + n1);
        const int32_t w0a = ofa_sxtb16(v0), w0b = ofa_sxtb16_ror8(v0);
        const int32_t w1a = ofa_sxtb16(v1), w1b = ofa_sxtb16_ror8(v1);
        a00 = ofa_smlad((int32_t)wide[0], w0a, ofa_smlad((int32_t)wide[1], w0b, a00));
        a01 = ofa_smlad((int32_t)wide[0], w1a, ofa_smlad((int32_t)wide[1], w1b, a01));
        a10 = ofa_smlad((int32_t)x1[0], w0a, ofa_smlad((int32_t)x1[1], w0b, a10));
        a11 = ofa_smlad((int32_t)x1[0], w1a, ofa_smlad((int32_t)x1[1], w1b, a11));
    }
#endif
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* tap i of pixel px (0, 1) of the widened windows: the input byte + in_offset */
OFA_INLINE int32_t conv_wide_tap(const uint32_t *wide, int32_t i, int32_t px)
{
    const uint32_t v = wide[px * (OFA_CONV_WIDE_OFF / 4) + (i >> 2) * 2 + (i & 1)];
    return (i & 2) ? (int32_t)(int16_t)(uint16_t)(v >> 16) : (int32_t)(int16_t)(uint16_t)(v & 0xFFFFu);
}

/* acc[2a + b] += row b . widened pixel a over taps [i, n): row 0 at w, row 1 at w + n1 */
OFA_INLINE void conv_wide_tail(const uint32_t *wide, const int8_t *w, int32_t n1, int32_t i, int32_t n, int32_t acc[4])
{
    for (; i < n; ++i) {
        const int32_t x0 = conv_wide_tap(wide, i, 0), x1 = conv_wide_tap(wide, i, 1);
        acc[0] += w[i] * x0;
        acc[1] += w[n1 + i] * x0;
        acc[2] += w[i] * x1;
        acc[3] += w[n1 + i] * x1;
    }
}

OFA_INLINE void ofa_conv_patch_loop(const ofa_conv_params_t *restrict p, const int8_t *restrict input,
                                    int8_t *restrict output, const ofa_add_params_t *add)
{
    const int32_t out_h = p->out_h, out_w = p->out_w, out_c = p->out_c;
    const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, k_h = p->k_h, k_w = p->k_w;
    const int32_t row = k_w * in_c, row4 = (row + 3) & ~3, row_stride = in_w * in_c, in_size = in_h * row_stride;
    const int32_t n = k_h * row;
    const int32_t n4 = (n + 3) & ~3;
    const int32_t off2 = ofa_dup16(p->in_offset);
    const uint32_t zp4 = ofa_dup8(-p->in_offset);
    const int32_t out_off = p->out_offset;
    const uint32_t lo4 = ofa_dup8(p->act_min), hi4 = ofa_dup8(p->act_max);
    const int32_t *const bias = p->bias;
    /* pairs before oc_safe read their whole zero-point tail inside the weights (n4 bytes of row 1) */
    const int32_t oc_safe = (out_c * n - n4) / n;
    /* both pixels' widened windows (and a word a gathered window's last copy may spill into) */
    uint32_t wide[2 * OFA_CONV_WIDE_OFF / 4 + 1];
    int fast = !add;
    int32_t oy, ox, oc, i, px;

    for (oc = 0; oc < out_c; ++oc) {
        fast &= p->out_shift[oc] < 0;
    }
    for (oy = 0; oy < out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        for (ox = 0; ox < out_w; ox += 2) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            const int two_px = ox + 1 < out_w;
            int8_t *y0 = output + (oy * out_w + ox) * out_c;
            int8_t *y1 = two_px ? y0 + out_c : y0;
            if (two_px && iy0 >= 0 && iy0 + k_h <= in_h && ix0 >= 0 && ix0 + p->stride_w + k_w <= in_w &&
                (iy0 + k_h - 1) * row_stride + (ix0 + p->stride_w) * in_c + row4 <= in_size) {
                /* both windows in the image: k_h runs of `row` bytes each, copied a word at a time (a
                 * run's last word may spill into the next run, which overwrites it, or past the window,
                 * which the zero points overwrite; reads stay inside the input), then both widened */
                const int32_t step = p->stride_w * in_c;
                const int8_t *src = input + iy0 * row_stride + ix0 * in_c;
                int8_t *const patch0 = (int8_t *)wide + n4, *const patch1 = patch0 + OFA_CONV_WIDE_OFF;
                int8_t *dst = patch0;
                uint32_t *d = wide;
                int32_t ky;
                for (ky = 0; ky < k_h; ++ky, src += row_stride, dst += row) {
                    for (i = 0; i < row; i += 4) {
                        memcpy(dst + i, src + i, 4);
                        memcpy(dst + OFA_CONV_WIDE_OFF + i, src + step + i, 4);
                    }
                }
                memcpy(patch0 + n, &zp4, 4);
                memcpy(patch1 + n, &zp4, 4);
                for (i = 0; i < n4; i += 4, d += 2) {
                    const int32_t u0 = ofa_load_s8x4(patch0 + i), u1 = ofa_load_s8x4(patch1 + i);
                    d[0] = (uint32_t)ofa_sxtab16(off2, u0);
                    d[1] = (uint32_t)ofa_sxtab16_ror8(off2, u0);
                    d[OFA_CONV_WIDE_OFF / 4] = (uint32_t)ofa_sxtab16(off2, u1);
                    d[OFA_CONV_WIDE_OFF / 4 + 1] = (uint32_t)ofa_sxtab16_ror8(off2, u1);
                }
            } else {
                for (px = 0; px < 2; ++px) {
                    uint32_t *d = wide + px * (OFA_CONV_WIDE_OFF / 4);
                    int8_t *const patch = (int8_t *)d + n4;
                    const int32_t ix = two_px ? ix0 + px * p->stride_w : ix0;
                    ofa_conv_gather(p, input, iy0, ix, patch, n4);
                    for (i = 0; i < n4; i += 4, d += 2) {
                        const int32_t u = ofa_load_s8x4(patch + i);
                        d[0] = (uint32_t)ofa_sxtab16(off2, u);
                        d[1] = (uint32_t)ofa_sxtab16_ror8(off2, u);
                    }
                }
            }
            oc = 0;
            if (fast && two_px) {
                /* pairs of channels with right shifts: the four-output stage, two halfword stores */
                const int8_t *w0 = p->weights;
                const int32_t *mp = p->out_mult;
                const int8_t *sp = p->out_shift;
                int8_t *ya = y0, *yb = y1;
                for (; oc + 2 <= out_c; oc += 2, w0 += 2 * n, mp += 2, sp += 2, ya += 2, yb += 2) {
                    int32_t acc[4];
                    uint32_t v;
                    uint16_t h;
                    if (bias) {
                        acc[0] = acc[2] = bias[oc];
                        acc[1] = acc[3] = bias[oc + 1];
                    } else {
                        acc[0] = acc[1] = acc[2] = acc[3] = 0;
                    }
                    if (oc < oc_safe) {
                        conv_wide_dot(wide, w0, n, n4 >> 2, acc);
                    } else {
                        conv_wide_dot(wide, w0, n, n >> 2, acc);
                        conv_wide_tail(wide, w0, n, n & ~3, n, acc);
                    }
                    {
                        /* the multipliers and shifts loaded after the dot (registers are scarce in it) */
                        const int32_t m0 = mp[0], m1 = mp[1], e0 = -sp[0], e1 = -sp[1];
                        v = ofa_clamp4_s8(ofa_output_sat8(acc[0], m0, e0, out_off), ofa_output_sat8(acc[1], m1, e1, out_off),
                                          ofa_output_sat8(acc[2], m0, e0, out_off), ofa_output_sat8(acc[3], m1, e1, out_off),
                                          lo4, hi4);
                    }
                    h = (uint16_t)v;
                    memcpy(ya, &h, 2);
                    h = (uint16_t)(v >> 16);
                    memcpy(yb, &h, 2);
                }
            }
            for (; oc < out_c; oc += 2) {
                /* any other block: an odd last channel, a last single pixel, left shifts, an ADD */
                const int two_ch = oc + 1 < out_c;
                const int8_t *w0 = p->weights + oc * n;
                const int32_t n1 = two_ch ? n : 0;
                const int32_t b0 = bias ? bias[oc] : 0;
                const int32_t b1 = (bias && two_ch) ? bias[oc + 1] : 0;
                const int32_t steps = (oc * n + n1 + n4 <= out_c * n) ? n4 >> 2 : n >> 2;
                int32_t acc[4];
                acc[0] = b0;
                acc[1] = b1;
                acc[2] = b0;
                acc[3] = b1;
                conv_wide_dot(wide, w0, n1, steps, acc);
                conv_wide_tail(wide, w0, n1, 4 * steps, n, acc);
                ofa_conv_store4(p, oc, two_ch, two_px, acc, y0 + oc, y1 + oc, add);
            }
        }
    }
}
#else
OFA_INLINE void ofa_conv_patch_loop(const ofa_conv_params_t *restrict p, const int8_t *restrict input,
                                    int8_t *restrict output, const ofa_add_params_t *add)
{
    const int32_t out_h = p->out_h, out_w = p->out_w, out_c = p->out_c;
    const int32_t n = (int32_t)p->k_h * p->k_w * p->in_c;
    const int32_t n4 = (n + 3) & ~3;
    const int32_t in_off = p->in_offset;
    /* word-aligned patches of two pixels */
    uint32_t patch_words[2][OFA_CONV_PATCH_BYTES / 4];
    int8_t *const patch0 = (int8_t *)patch_words[0];
    int8_t *const patch1 = (int8_t *)patch_words[1];
    int32_t oy, ox, oc;

    for (oy = 0; oy < out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        for (ox = 0; ox < out_w; ox += 2) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            const int two_px = ox + 1 < out_w;
            int8_t *y0 = output + (oy * out_w + ox) * out_c;
            int8_t *y1 = two_px ? y0 + out_c : y0;
            ofa_conv_gather(p, input, iy0, ix0, patch0, n4);
            if (two_px) {
                ofa_conv_gather(p, input, iy0, ix0 + p->stride_w, patch1, n4);
            }
            for (oc = 0; oc < out_c; oc += 2) {
                const int two_ch = oc + 1 < out_c;
                const int8_t *w0 = p->weights + oc * n;
                const int8_t *w1 = two_ch ? w0 + n : w0;
                /* the zero-point tail of the patch may meet the next row's weights: only while one exists */
                const int32_t len = oc + 2 < out_c ? n4 : n;
                const int32_t b0 = p->bias ? p->bias[oc] : 0;
                const int32_t b1 = (p->bias && two_ch) ? p->bias[oc + 1] : 0;
                int32_t acc[4];
                acc[0] = b0;
                acc[1] = b1;
                acc[2] = b0;
                acc[3] = b1;
#if defined(OFA_M0_ASM)
                ofa_dot2x2_off_m0(patch0, two_px ? patch1 : patch0, w0, w1, len, in_off, acc);
#else
                ofa_dot2x2_s8(patch0, two_px ? patch1 : patch0, w0, w1, len, in_off, acc);
#endif
                ofa_conv_store4(p, oc, two_ch, two_px, acc, y0 + oc, y1 + oc, add);
            }
        }
    }
}

#endif

OFA_INLINE void ofa_conv_row_loop(const ofa_conv_params_t *restrict p, const int8_t *restrict input,
                                  int8_t *restrict output, const ofa_add_params_t *add)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c;
    const int32_t out_h = p->out_h, out_w = p->out_w, out_c = p->out_c;
    const int32_t k_h = p->k_h, k_w = p->k_w;
    const int32_t w_per_oc = k_h * k_w * in_c;
    const int32_t in_off = p->in_offset;
    const int32_t step = p->stride_w * in_c; /* input bytes from one pixel's window to the next */
    /* output columns whose window lies inside the image horizontally */
    const int32_t ox_first = (p->pad_left + p->stride_w - 1) / p->stride_w;
    const int32_t ox_last = (in_w - k_w + p->pad_left) >= 0 ? (in_w - k_w + p->pad_left) / p->stride_w : -1;
    int32_t oy, ox, oc;

    for (oy = 0; oy < out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const int32_t ky_begin = ofa_tap_begin(iy0);
        const int32_t ky_end = ofa_tap_end(iy0, in_h, k_h);
        for (ox = 0; ox < out_w;) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            int8_t *out_px = output + (oy * out_w + ox) * out_c;
            if (ox >= ox_first && ox + 1 <= ox_last) {
                /* two pixels, whole kernel rows: acc[2 * pixel + channel] */
                const int32_t run = k_w * in_c;
                for (oc = 0; oc < out_c; oc += 2) {
                    const int two_ch = oc + 1 < out_c;
                    const int8_t *w0 = p->weights + oc * w_per_oc;
                    const int8_t *w1 = two_ch ? w0 + w_per_oc : w0;
                    const int32_t b0 = p->bias ? p->bias[oc] : 0;
                    const int32_t b1 = (p->bias && two_ch) ? p->bias[oc + 1] : 0;
                    int32_t acc[4];
                    int32_t ky;
                    acc[0] = b0;
                    acc[1] = b1;
                    acc[2] = b0;
                    acc[3] = b1;
                    for (ky = ky_begin; ky < ky_end; ++ky) {
                        const int8_t *x = input + ((iy0 + ky) * in_w + ix0) * in_c;
                        const int32_t woff = ky * run;
#if defined(OFA_M0_ASM)
                        ofa_dot2x2_off_m0(x, x + step, w0 + woff, w1 + woff, run, in_off, acc);
#else
                        ofa_dot2x2_s8(x, x + step, w0 + woff, w1 + woff, run, in_off, acc);
#endif
                    }
                    ofa_conv_store4(p, oc, two_ch, 1, acc, out_px + oc, out_px + out_c + oc, add);
                }
                ox += 2;
                continue;
            }
            {
                const int32_t kx_begin = ofa_tap_begin(ix0);
                const int32_t kx_end = ofa_tap_end(ix0, in_w, k_w);
                const int32_t run = (kx_end - kx_begin) * in_c;
                for (oc = 0; oc < out_c; oc += 2) {
                    const int two = (oc + 1) < out_c;
                    const int8_t *w0 = p->weights + oc * w_per_oc;
                    const int8_t *w1 = two ? w0 + w_per_oc : w0;
                    int32_t acc0 = p->bias ? p->bias[oc] : 0;
                    int32_t acc1 = (p->bias && two) ? p->bias[oc + 1] : 0;
                    int32_t ky;
                    for (ky = ky_begin; ky < ky_end && run > 0; ++ky) {
                        const int8_t *x = input + ((iy0 + ky) * in_w + ix0 + kx_begin) * in_c;
                        const int32_t woff = (ky * k_w + kx_begin) * in_c;
                        ofa_dot2_off_s8(x, w0 + woff, w1 + woff, run, in_off, &acc0, &acc1);
                    }
                    ofa_conv_store(out_px + oc, ofa_output_s8(acc0, p->out_mult[oc], p->out_shift[oc], p->out_offset,
                                                              p->act_min, p->act_max), add);
                    if (two) {
                        ofa_conv_store(out_px + oc + 1,
                                       ofa_output_s8(acc1, p->out_mult[oc + 1], p->out_shift[oc + 1], p->out_offset,
                                                     p->act_min, p->act_max), add);
                    }
                }
            }
            ++ox;
        }
    }
}

/* The variant a layer runs: the patch loop for few input channels and small windows, else the row loop. */
int ofa_conv_variant(const ofa_conv_params_t *p)
{
    const int32_t n = (int32_t)p->k_h * p->k_w * p->in_c;
    return (p->in_c < OFA_CONV_PATCH_MAX_C && n <= OFA_CONV_PATCH_BYTES) ? OFA_CONV_VARIANT_PATCH
                                                                         : OFA_CONV_VARIANT_ROWS;
}

void ofa_conv_any_s8(const ofa_conv_params_t *restrict p, const int8_t *restrict input, int8_t *restrict output,
                     const ofa_add_params_t *add)
{
    /* through the entry points: each loop is compiled into them, not once more here */
    if (ofa_conv_variant(p) == OFA_CONV_VARIANT_PATCH) {
        if (add) {
            ofa_conv_add_s8_patch(p, add, input, output);
        } else {
            ofa_conv_s8_patch(p, input, output);
        }
    } else if (add) {
        ofa_conv_add_s8_rows(p, add, input, output);
    } else {
        ofa_conv_s8_rows(p, input, output);
    }
}

void ofa_conv_s8(const ofa_conv_params_t *restrict p, const int8_t *restrict input, int8_t *restrict output)
{
    ofa_conv_any_s8(p, input, output, 0);
}

/*
 * The variants' entry points (ofa_kernels.h): what the code generator calls. Each has its own copy
 * of its loop, the plain conv's without the ADD. The ADD ones take add == NULL too (a plain conv):
 * a model that has both kinds of one loop calls the ADD one for both, one copy of the loop.
 */

OFA_NO_LIBCALLS void ofa_conv_s8_patch(const ofa_conv_params_t *p, const int8_t *input, int8_t *output)
{
    ofa_conv_patch_loop(p, input, output, 0);
}

void ofa_conv_s8_rows(const ofa_conv_params_t *p, const int8_t *input, int8_t *output)
{
    ofa_conv_row_loop(p, input, output, 0);
}

OFA_NO_LIBCALLS void ofa_conv_add_s8_patch(const ofa_conv_params_t *conv, const ofa_add_params_t *add, const int8_t *input,
                           int8_t *inout)
{
    ofa_conv_patch_loop(conv, input, inout, add);
}

void ofa_conv_add_s8_rows(const ofa_conv_params_t *conv, const ofa_add_params_t *add, const int8_t *input,
                          int8_t *inout)
{
    ofa_conv_row_loop(conv, input, inout, add);
}
