/*
 * ofa_conv_core.h - the int8 CONV_2D loop (internal, shared by conv.c and the
 * conv + ADD kernel): NHWC, per-channel requantization (TFLM reference
 * arithmetic: acc = sum w * (x + in_offset) over in-image taps, + bias,
 * MultiplyByQuantizedMultiplier, + out_offset, clamp).
 *
 * For one output pixel the in-image taps of one kernel row form a single
 * contiguous run of (kx_end - kx_begin) * in_c bytes, both in the NHWC input
 * and in the [out_c][k_h][k_w][in_c] weights, so each row is one dot product
 * (SMLAD on DSP cores). Two output channels share each input load.
 *
 * With `add` (not NULL) each int8 result r is not stored but added into the
 * output: out[i] = ADD(r, out[i]) (ofa_add.h; r is the ADD's input 1).
 */
#ifndef OFA_CONV_CORE_H
#define OFA_CONV_CORE_H

#include "ofa_add.h"
#include "ofa_dot.h"
#include "ofa_kernels.h"
#include "ofa_requant.h"
#include "ofa_window.h"

OFA_INLINE void ofa_conv_store(int8_t *out, int8_t r, const ofa_add_params_t *add)
{
    *out = add ? ofa_add_one_s8(add, r, *out) : r;
}

OFA_INLINE void ofa_conv_core(const ofa_conv_params_t *restrict p, const int8_t *restrict input,
                              int8_t *restrict output, const ofa_add_params_t *add)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c;
    const int32_t out_h = p->out_h, out_w = p->out_w, out_c = p->out_c;
    const int32_t k_h = p->k_h, k_w = p->k_w;
    const int32_t w_per_oc = k_h * k_w * in_c;
    const int32_t in_off = p->in_offset;
    int32_t oy, ox, oc;

    for (oy = 0; oy < out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const int32_t ky_begin = ofa_tap_begin(iy0);
        const int32_t ky_end = ofa_tap_end(iy0, in_h, k_h);
        for (ox = 0; ox < out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            const int32_t kx_begin = ofa_tap_begin(ix0);
            const int32_t kx_end = ofa_tap_end(ix0, in_w, k_w);
            const int32_t run = (kx_end - kx_begin) * in_c;
            int8_t *out_px = output + (oy * out_w + ox) * out_c;

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
    }
}

#endif /* OFA_CONV_CORE_H */
