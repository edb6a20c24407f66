/*
 * pointwise.c - int8 1x1 CONV_2D, stride 1, no padding: the fast path for the
 * expand and project convolutions of inverted residual blocks.
 *
 * Same arithmetic as conv.c, blocked 2 output channels (outer loop: their
 * bias, multiplier and shift stay in registers) x 2 pixels. On DSP cores the
 * input offset is added for free while SXTAB16 widens the inputs. Portable
 * code folds it into the bias when the layer has enough pixels to pay for
 * the weight sum: with no padding every tap is in the image, so
 * sum w * (x + in_offset) = sum w * x + in_offset * sum w exactly (int32
 * arithmetic is a ring).
 */

/* portable code folds the input offset into the bias from this many pixels on */
#define OFA_PW_FOLD_PIXELS 8
#include "ofa_kernels.h"
#include "ofa_dot.h"
#include "ofa_requant.h"

void ofa_pointwise_s8(const ofa_conv_params_t *restrict p, const int8_t *restrict input,
                      int8_t *restrict output)
{
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

        for (pix = 0; pix + 2 <= npix; pix += 2) {
            int32_t acc[4];
            acc[0] = base0;
            acc[1] = base1;
            acc[2] = base0;
            acc[3] = base1;
            ofa_dot2x2_s8(x, x + in_c, w0, w1, in_c, dot_off, acc);
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
