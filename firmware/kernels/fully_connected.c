/*
 * fully_connected.c - int8 FULLY_CONNECTED, TFLM reference arithmetic:
 *   y[b][o] = clamp(requant(sum_i W[o][i] * (x[b][i] + in_offset) + bias[o])
 *             + out_offset)
 * Per-tensor weights (the form ofa-mcu exports, see DESIGN.md) use
 * out_mult[0]/out_shift[0]; TFLM derives that multiplier from the float32
 * product input_scale * weight_scale (fc_multiplier() in tflite_graph.py).
 * Per-channel weights (per_channel != 0) use out_mult[o]/out_shift[o], which
 * current TFLM also supports, with the same double rounding.
 */
#include "ofa_kernels.h"
#include "ofa_dot.h"
#include "ofa_requant.h"

void ofa_fully_connected_s8(const ofa_fc_params_t *restrict p, const int8_t *restrict input,
                            int8_t *restrict output)
{
    const int32_t n_in = p->in_features, n_out = p->out_features;
    int32_t b, o;

    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = input + b * n_in;
        int8_t *y = output + b * n_out;
        for (o = 0; o < n_out; o += 2) {
            const int two = (o + 1) < n_out;
            const int32_t o1 = two ? o + 1 : o;
            int32_t acc0 = p->bias ? p->bias[o] : 0;
            int32_t acc1 = p->bias ? p->bias[o1] : 0;
            const int32_t q0 = p->per_channel ? o : 0;
            const int32_t q1 = p->per_channel ? o1 : 0;
            ofa_dot2_off_s8(x, p->weights + o * n_in, p->weights + o1 * n_in, n_in, p->in_offset, &acc0,
                            &acc1);
            y[o] = ofa_output_s8(acc0, p->out_mult[q0], p->out_shift[q0], p->out_offset, p->act_min,
                                 p->act_max);
            if (two) {
                y[o1] = ofa_output_s8(acc1, p->out_mult[q1], p->out_shift[q1], p->out_offset, p->act_min,
                                      p->act_max);
            }
        }
    }
}
