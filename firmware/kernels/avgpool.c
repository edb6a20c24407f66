/*
 * avgpool.c - int8 AVERAGE_POOL_2D, TFLM reference arithmetic: input and
 * output share scale and zero point, so the raw int8 values are averaged.
 * Only in-image taps are summed and counted (padding is not averaged in);
 * the division rounds half away from zero:
 *   y = sum > 0 ? (sum + n/2) / n : (sum - n/2) / n     (C division)
 * then the fused-activation clamp.
 */
#include "ofa_kernels.h"
#include "ofa_requant.h"
#include "ofa_window.h"

void ofa_avgpool_s8(const ofa_avgpool_params_t *restrict p, const int8_t *restrict input,
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
            const int32_t count = (ky_end - ky_begin) * (kx_end - kx_begin);
            int8_t *out_px = output + (oy * out_w + ox) * ch_n;
            for (c = 0; c < ch_n; ++c) {
                int32_t sum = 0;
                int32_t ky, kx, y;
                if (count <= 0) {
                    out_px[c] = 0; /* TFLM reports an error here; cannot happen for SAME/VALID */
                    continue;
                }
                for (ky = ky_begin; ky < ky_end; ++ky) {
                    const int8_t *xr = input + ((iy0 + ky) * in_w + ix0 + kx_begin) * ch_n + c;
                    for (kx = 0; kx < kx_end - kx_begin; ++kx) {
                        sum += xr[kx * ch_n];
                    }
                }
                y = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
                out_px[c] = (int8_t)ofa_clamp(y, p->act_min, p->act_max);
            }
        }
    }
}
