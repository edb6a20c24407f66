/*
 * expand_depthwise.c - a 1x1 expand CONV_2D fused with the DEPTHWISE_CONV_2D that consumes it.
 *
 * The expanded tensor (in_h x in_w x C, the largest activation of an inverted residual block)
 * never exists in full. Its rows are computed by ofa_pointwise_s8 into a window of at most
 * min(k_h, in_h) rows just before the depthwise conv needs them (the rows an output row needs
 * next in one call, stride_h of them after the first), and each output row of the
 * depthwise conv is computed by ofa_depthwise_s8 from that window (its top padding adjusted to
 * the window). When the depthwise conv moves down, the rows it still needs are moved to the top
 * of the window. Every expanded row is computed exactly once, by the same kernels, so the results
 * are bit for bit those of the two layers run one after the other. ofa_expand_depthwise_s8_with
 * takes the pointwise and depthwise kernels to call (generated models pass the variants
 * ofa_pointwise_s8 and ofa_depthwise_s8 would choose, so that only those variants are linked).
 */
#include <string.h>

#include "ofa_kernels.h"
#include "ofa_window.h"

void ofa_expand_depthwise_s8_with(const ofa_conv_params_t *expand, const ofa_conv_params_t *dw, ofa_conv_fn pw_kernel,
                                  ofa_conv_fn dw_kernel, const int8_t *input, int8_t *window, int8_t *output)
{
    const int32_t in_h = dw->in_h;
    const int32_t row_bytes = (int32_t)dw->in_w * dw->in_c;         /* one expanded row */
    const int32_t in_row_bytes = (int32_t)expand->in_w * expand->in_c; /* one input row */
    const int32_t out_row_bytes = (int32_t)dw->out_w * dw->out_c;
    ofa_conv_params_t row_expand = *expand; /* the expand conv over the next rows */
    ofa_conv_params_t row_dw = *dw;         /* the depthwise conv for one output row */
    int32_t lo = 0, hi = 0;                 /* the window holds expanded rows [lo, hi) */
    int32_t oy;

    row_dw.out_h = 1;
    for (oy = 0; oy < dw->out_h; ++oy) {
        const int32_t iy0 = oy * dw->stride_h - dw->pad_top;
        const int32_t need_lo = iy0 + ofa_tap_begin(iy0);
        const int32_t need_hi = iy0 + ofa_tap_end(iy0, in_h, dw->k_h);

        if (need_lo >= hi) {
            lo = hi = need_lo; /* nothing in the window is needed any more */
        } else if (need_lo > lo) {
            memmove(window, window + (need_lo - lo) * row_bytes, (size_t)((hi - need_lo) * row_bytes));
            lo = need_lo;
        }
        if (hi < need_hi) { /* the new rows in one call: its per-channel set-up once for all of them */
            row_expand.in_h = (uint16_t)(need_hi - hi);
            row_expand.out_h = row_expand.in_h;
            pw_kernel(&row_expand, input + hi * in_row_bytes, window + (hi - lo) * row_bytes);
            hi = need_hi;
        }
        row_dw.in_h = (uint16_t)(hi - lo);
        row_dw.pad_top = (uint8_t)(lo - iy0);
        dw_kernel(&row_dw, window, output + oy * out_row_bytes);
    }
}

void ofa_expand_depthwise_s8(const ofa_conv_params_t *expand, const ofa_conv_params_t *dw,
                             const int8_t *input, int8_t *window, int8_t *output)
{
    ofa_expand_depthwise_s8_with(expand, dw, ofa_pointwise_s8, ofa_depthwise_s8, input, window, output);
}
