/*
 * conv.c - int8 CONV_2D, any kernel size, stride and padding: the patch loop and the row loop
 * described in ofa_conv_core.h, shared with the conv + ADD kernel (conv_add.c). ofa_conv_variant
 * chooses the loop from the shape; each loop, with and without the ADD, is also an entry point of
 * its own (ofa_conv_s8_patch, ofa_conv_s8_rows, ofa_conv_add_s8_patch, ofa_conv_add_s8_rows), which
 * generated models call directly.
 */
#include <string.h>

#include "ofa_conv_core.h"

/* windows of up to this many bytes (k_h * k_w * in_c) with in_c < OFA_CONV_PATCH_MAX_C use the patch loop */
#define OFA_CONV_PATCH_BYTES 128
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
#if OFA_USE_DSP
                if (!add && two_ch && two_px && p->out_shift[oc] < 0 && p->out_shift[oc + 1] < 0) {
                    /* the four-output stage, two halfword stores */
                    const int32_t e0 = -p->out_shift[oc], e1 = -p->out_shift[oc + 1];
                    const int32_t m0 = p->out_mult[oc], m1 = p->out_mult[oc + 1];
                    const int32_t out_off = p->out_offset;
                    const uint32_t v = ofa_clamp4_s8(ofa_output_sat8(acc[0], m0, e0, out_off),
                                                     ofa_output_sat8(acc[1], m1, e1, out_off),
                                                     ofa_output_sat8(acc[2], m0, e0, out_off),
                                                     ofa_output_sat8(acc[3], m1, e1, out_off),
                                                     ofa_dup8(p->act_min), ofa_dup8(p->act_max));
                    uint16_t h = (uint16_t)v;
                    memcpy(y0 + oc, &h, 2);
                    h = (uint16_t)(v >> 16);
                    memcpy(y1 + oc, &h, 2);
                    continue;
                }
#endif
                ofa_conv_store4(p, oc, two_ch, two_px, acc, y0 + oc, y1 + oc, add);
            }
        }
    }
}

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

void ofa_conv_s8_patch(const ofa_conv_params_t *p, const int8_t *input, int8_t *output)
{
    ofa_conv_patch_loop(p, input, output, 0);
}

void ofa_conv_s8_rows(const ofa_conv_params_t *p, const int8_t *input, int8_t *output)
{
    ofa_conv_row_loop(p, input, output, 0);
}

void ofa_conv_add_s8_patch(const ofa_conv_params_t *conv, const ofa_add_params_t *add, const int8_t *input,
                           int8_t *inout)
{
    ofa_conv_patch_loop(conv, input, inout, add);
}

void ofa_conv_add_s8_rows(const ofa_conv_params_t *conv, const ofa_add_params_t *add, const int8_t *input,
                          int8_t *inout)
{
    ofa_conv_row_loop(conv, input, inout, add);
}
