/*
 * mean.c - int8 MEAN over H and W of an NHWC tensor (what the TFLite
 * converter emits for Keras GlobalAveragePooling2D, keep_dims false), as
 * TFLM's reduce kernel computes it for int8 (QuantizedMeanOrSum):
 *   sum   = sum_{h,w} x[h][w][c] - in_zero_point * N,   N = h * w
 *   y[c]  = clamp(requant(sum, mult', shift') + out_zero_point, -128, 127)
 * with (mult', shift') = TFLM's input_scale/output_scale multiplier with 1/N
 * folded in at run time: s = min(floor(log2 N), 32, 31 + shift),
 * mult' = (mult << s) / N (int64, truncating), shift' = shift - s.
 * The folding is done offline (mean_multiplier() in tflite_graph.py); this
 * kernel gets (mult', shift'). No fused activation (MEAN has none).
 */
#include "ofa_kernels.h"
#include "ofa_requant.h"

void ofa_mean_hw_s8(const ofa_mean_params_t *restrict p, const int8_t *restrict input,
                    int8_t *restrict output)
{
    const int32_t n = (int32_t)p->h * p->w;
    const int32_t ch_n = p->c;
    const int32_t zp_n = p->in_zero_point * n;
    int32_t c, i;

    for (c = 0; c < ch_n; ++c) {
        const int8_t *x = input + c;
        int32_t sum = 0;
        int32_t y;
        for (i = 0; i < n; ++i) {
            sum += *x;
            x += ch_n;
        }
        y = ofa_requant(sum - zp_n, p->mult, p->shift) + p->out_zero_point;
        output[c] = (int8_t)ofa_clamp(y, -128, 127);
    }
}
