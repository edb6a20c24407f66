/*
 * maxpool.c - int8 MAX_POOL_2D, TFLM reference arithmetic: input and output
 * share scale and zero point, so the raw int8 values are compared. Only
 * in-image taps take part (padding is never the maximum), then the
 * fused-activation clamp.
 */
#include "ofa_kernels.h"
#include "ofa_requant.h"
#include "ofa_window.h"

void ofa_maxpool_s8(const ofa_pool_params_t *restrict p, const int8_t *restrict input,
                    int8_t *restrict output)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, ch_n = p->c;
    const int32_t out_h = p->out_h, out_w = p->out_w;
    const int32_t k_h = p->k_h, k_w = p->k_w;
    int32_t oy, ox, c;

    for (oy = 0; oy < out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const int32_t ky_begin = ofa_tap_begin(iy0);
        const int32_t ky_end = ofa_tap_end(iy0, in_h, k_h);
        for (ox = 0; ox < out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            const int32_t kx_begin = ofa_tap_begin(ix0);
            const int32_t kx_end = ofa_tap_end(ix0, in_w, k_w);
            int8_t *out_px = output + (oy * out_w + ox) * ch_n;
            for (c = 0; c < ch_n; ++c) {
                int32_t m = -128;
                int32_t ky, kx;
                for (ky = ky_begin; ky < ky_end; ++ky) {
                    const int8_t *xr = input + ((iy0 + ky) * in_w + ix0 + kx_begin) * ch_n + c;
                    for (kx = 0; kx < kx_end - kx_begin; ++kx) {
                        const int32_t v = xr[kx * ch_n];
                        m = v > m ? v : m;
                    }
                }
                out_px[c] = (int8_t)ofa_clamp(m, p->act_min, p->act_max);
            }
        }
    }
}
