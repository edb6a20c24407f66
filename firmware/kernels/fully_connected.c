/*
 * fully_connected.c - int8 FULLY_CONNECTED, TFLM reference arithmetic:
 *   y[b][o] = clamp(requant(sum_i W[o][i] * (x[b][i] + in_offset) + bias[o])
 *             + out_offset)
 * Per-tensor weights (the form ofa-mcu exports, see DESIGN.md) use
 * out_mult[0]/out_shift[0]; TFLM derives that multiplier from the float32
 * product input_scale * weight_scale (fc_multiplier() in tflite_graph.py).
 * Per-channel weights (per_channel != 0) use out_mult[o]/out_shift[o], which
 * current TFLM also supports, with the same double rounding.
 *
 * Four weight rows per pass share each input load (and, on DSP cores, its
 * widening with the offset added: SXTAB16); the last 1-3 rows go two and one
 * at a time.
 */
#include "ofa_kernels.h"
#include "ofa_dot.h"
#include "ofa_requant.h"

/*
 * acc[j] += W[j][:] . (x + off) for the four rows at w, w + n, w + 2n, w + 3n. The DSP loop
 * addresses the rows as (w, w + n) and (w2, w2 + n) so that its pointers, the offset, the four
 * accumulators and the widened input all stay in registers.
 */
OFA_INLINE void fc_dot4(const int8_t *restrict x, const int8_t *restrict w, int32_t n, int32_t off, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t i = 0;
#if OFA_USE_DSP
    {
        const int32_t off2 = ofa_dup16(off);
        const int8_t *wa = w, *wb = w + 2 * n;
        const int8_t *const x_end = x + (n & ~3);
        const int8_t *xp = x;
        while (xp != x_end) {
            const int32_t xv = ofa_load_s8x4(xp);
            const int32_t xa = ofa_sxtab16(off2, xv), xb = ofa_sxtab16_ror8(off2, xv);
            int32_t v = ofa_load_s8x4(wa + n);
            a1 = ofa_smlad(xa, ofa_sxtb16(v), a1);
            a1 = ofa_smlad(xb, ofa_sxtb16_ror8(v), a1);
            v = ofa_load_s8x4(wa);
            a0 = ofa_smlad(xa, ofa_sxtb16(v), a0);
            a0 = ofa_smlad(xb, ofa_sxtb16_ror8(v), a0);
            v = ofa_load_s8x4(wb + n);
            a3 = ofa_smlad(xa, ofa_sxtb16(v), a3);
            a3 = ofa_smlad(xb, ofa_sxtb16_ror8(v), a3);
            v = ofa_load_s8x4(wb);
            a2 = ofa_smlad(xa, ofa_sxtb16(v), a2);
            a2 = ofa_smlad(xb, ofa_sxtb16_ror8(v), a2);
            xp += 4;
            wa += 4;
            wb += 4;
        }
        i = n & ~3;
    }
#endif
    for (; i < n; ++i) {
        const int32_t xi = (int32_t)x[i] + off;
        a0 += (int32_t)w[i] * xi;
        a1 += (int32_t)w[n + i] * xi;
        a2 += (int32_t)w[2 * n + i] * xi;
        a3 += (int32_t)w[3 * n + i] * xi;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/*
 * quads: whether to run 4-row passes (0: rows two and one at a time); tail: whether rows may be left
 * after them (0 only for multiples of 4 with quads). The entry points below fix both.
 */
OFA_INLINE void fc_s8(const ofa_fc_params_t *restrict p, const int8_t *restrict input, int8_t *restrict output,
                      int quads, int tail)
{
    const int32_t n_in = p->in_features, n_out = p->out_features;
    const int32_t out_off = p->out_offset, lo = p->act_min, hi = p->act_max;
    int32_t b, o, j;

    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = input + b * n_in;
        int8_t *y = output + b * n_out;
        for (o = 0; quads && o + 4 <= n_out; o += 4) {
            int32_t acc[4];
            for (j = 0; j < 4; ++j) {
                acc[j] = p->bias ? p->bias[o + j] : 0;
            }
            fc_dot4(x, p->weights + o * n_in, n_in, p->in_offset, acc);
            for (j = 0; j < 4; ++j) {
                const int32_t q = p->per_channel ? o + j : 0;
                y[o + j] = ofa_output_s8(acc[j], p->out_mult[q], p->out_shift[q], out_off, lo, hi);
            }
        }
        for (; tail && o < n_out; o += 2) {
            const int two = (o + 1) < n_out;
            const int32_t o1 = two ? o + 1 : o;
            int32_t acc0 = p->bias ? p->bias[o] : 0;
            int32_t acc1 = p->bias ? p->bias[o1] : 0;
            const int32_t q0 = p->per_channel ? o : 0;
            const int32_t q1 = p->per_channel ? o1 : 0;
            ofa_dot2_off_s8(x, p->weights + o * n_in, p->weights + o1 * n_in, n_in, p->in_offset, &acc0, &acc1);
            y[o] = ofa_output_s8(acc0, p->out_mult[q0], p->out_shift[q0], out_off, lo, hi);
            if (two) {
                y[o1] = ofa_output_s8(acc1, p->out_mult[q1], p->out_shift[q1], out_off, lo, hi);
            }
        }
    }
}

void ofa_fully_connected_s8(const ofa_fc_params_t *restrict p, const int8_t *restrict input,
                            int8_t *restrict output)
{
    fc_s8(p, input, output, 1, 1);
}

/* out_features a multiple of 4: the 4-row passes only (the code generator's choice for such layers) */
void ofa_fully_connected_s8_x4(const ofa_fc_params_t *restrict p, const int8_t *restrict input,
                               int8_t *restrict output)
{
    fc_s8(p, input, output, 1, 0);
}

/* rows two and one at a time only: the code generator's choice for fewer than 4 outputs (any count runs) */
void ofa_fully_connected_s8_x2(const ofa_fc_params_t *restrict p, const int8_t *restrict input,
                               int8_t *restrict output)
{
    fc_s8(p, input, output, 0, 1);
}
