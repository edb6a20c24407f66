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
 * widening with the offset added: SXTAB16; on Cortex-M an assembly loop, 8
 * inputs a pass, and the four-output stage of ofa_requant.h with one word
 * store). Portable code: the last 1-3 rows go two and one at a time. DSP code:
 * a last pass over the last four rows instead (fc_s8_dsp), so that a layer of 4
 * rows or more needs the 4-row loop only (ofa_fully_connected_s8_x4).
 */
#include <string.h>

#include "ofa_kernels.h"
#include "ofa_dot.h"
#include "ofa_requant.h"

#if defined(OFA_ARM_DSP) && !defined(OFA_NO_ASM)
/* four inputs against the four rows: one input word widened with the offset (SXTAB16), each row's
 * word widened (SXTB16) into two SMLADs: 23 instructions for 16 MACs */
#define FC_ROW(acc, addr)                            \
    "ldr %[t2], " addr "\n\t"                      \
    "sxtb16 %[t3], %[t2]\n\t"                      \
    "smlad %[" acc "], %[t1], %[t3], %[" acc "]\n\t" \
    "sxtb16 %[t2], %[t2], ror #8\n\t"              \
    "smlad %[" acc "], %[t0], %[t2], %[" acc "]\n\t"
#define FC_STEP4                                     \
    "ldr %[t0], [%[x]], #4\n\t"                    \
    "sxtab16 %[t1], %[off], %[t0]\n\t"             \
    "sxtab16 %[t0], %[off], %[t0], ror #8\n\t"     \
    FC_ROW("a1", "[%[wa], %[n]]")                    \
    FC_ROW("a0", "[%[wa]], #4")                      \
    FC_ROW("a3", "[%[wb], %[n]]")                    \
    FC_ROW("a2", "[%[wb]], #4")
#define FC_OPERANDS                                                                              \
    [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(xp), [wa] "+r"(wa),      \
    [wb] "+r"(wb), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3)
#endif

/*
 * acc += the rows (wa, wa + rs, wb, wb + rs) . (x + off) over n inputs (rs: the row stride, n or 0
 * to repeat a row). The DSP loop addresses the rows that way so that its pointers, the offset, the
 * four accumulators and the widened input all stay in registers.
 */
OFA_INLINE void fc_dot4(const int8_t *restrict x, const int8_t *wa, const int8_t *wb, int32_t n, int32_t rs,
                        int32_t off, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const int8_t *xp = x;
    const int8_t *const x_end = x + n;
#if defined(OFA_ARM_DSP) && !defined(OFA_NO_ASM)
    {
        /* the loop below in assembly, 8 inputs a pass, thirteen registers in use */
        const int32_t off2 = ofa_dup16(off);
        int32_t t0, t1, t2, t3;
        if (n >= 8) {
            const int8_t *const x_end8 = x + (n & ~7);
            /* (the end from memory: thirteen registers, which every build can give) */
            __asm__ volatile("1:\n\t" FC_STEP4 FC_STEP4
                             "ldr %[t0], %[end]\n\t"
                             "cmp %[x], %[t0]\n\t"
                             "bne 1b"
                             : FC_OPERANDS
                             : [n] "r"(rs), [off] "r"(off2), [end] "m"(x_end8)
                             : "cc", "memory");
        }
        if (n & 4) {
            __asm__ volatile(FC_STEP4 : FC_OPERANDS : [n] "r"(rs), [off] "r"(off2) : "memory");
        }
    }
#elif OFA_USE_DSP
    {
        const int32_t off2 = ofa_dup16(off);
        const int8_t *const x_end4 = x + (n & ~3);
        while (xp != x_end4) {
            const int32_t xv = ofa_load_s8x4(xp);
            const int32_t xa = ofa_sxtab16(off2, xv), xb = ofa_sxtab16_ror8(off2, xv);
            int32_t v = ofa_load_s8x4(wa + rs);
            a1 = ofa_smlad(xa, ofa_sxtb16(v), a1);
            a1 = ofa_smlad(xb, ofa_sxtb16_ror8(v), a1);
            v = ofa_load_s8x4(wa);
            a0 = ofa_smlad(xa, ofa_sxtb16(v), a0);
            a0 = ofa_smlad(xb, ofa_sxtb16_ror8(v), a0);
            v = ofa_load_s8x4(wb + rs);
            a3 = ofa_smlad(xa, ofa_sxtb16(v), a3);
            a3 = ofa_smlad(xb, ofa_sxtb16_ror8(v), a3);
            v = ofa_load_s8x4(wb);
            a2 = ofa_smlad(xa, ofa_sxtb16(v), a2);
            a2 = ofa_smlad(xb, ofa_sxtb16_ror8(v), a2);
            xp += 4;
            wa += 4;
            wb += 4;
        }
    }
#endif
    /* the 1-3 inputs left (all of them without the DSP loops), from where the loop stopped */
    for (; xp != x_end; ++xp, ++wa, ++wb) {
        const int32_t xi = (int32_t)*xp + off;
        a0 += (int32_t)wa[0] * xi;
        a1 += (int32_t)wa[rs] * xi;
        a2 += (int32_t)wb[0] * xi;
        a3 += (int32_t)wb[rs] * xi;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

#if OFA_USE_DSP
/* one output of any shift (a shift of 0 or a left shift among a pass's four), out of line: rare */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int8_t fc_output_any(int32_t acc, int32_t m, int32_t s4, int32_t k, const ofa_fc_params_t *p)
{
    return ofa_output_s8(acc, m, (int8_t)(s4 >> (8 * k)), p->out_offset, p->act_min, p->act_max);
}

/*
 * DSP cores: a layer of 4 rows or more runs the 4-row loop alone (quads). Rows go four at a time; past
 * the multiples of 4, one more pass takes the last four rows (it recomputes up to three, the same
 * values), so 10 rows are three passes and no row runs in another loop. Right shifts (all of them in
 * practice) take the four-output stage of ofa_requant.h, one word store per pass. Fewer than 4 rows,
 * or every layer without quads, go two rows at a time (a 4-row pass would repeat rows: twice the
 * MACs for 2 rows). quads: 1 both loops (the last 1-2 rows of a layer two at a time), 2 the 4-row loop
 * only (4 rows or more), 0 the two-row one.
 */
OFA_INLINE void fc_s8_dsp(const ofa_fc_params_t *restrict p, const int8_t *restrict input, int8_t *restrict output,
                          int quads)
{
    const int32_t n_in = p->in_features, n_out = p->out_features;
    const int32_t out_off = p->out_offset, in_off = p->in_offset;
    const uint32_t lo4 = ofa_dup8(p->act_min), hi4 = ofa_dup8(p->act_max);
    const int8_t *const weights = p->weights;
    const int32_t *const bias = p->bias, *const mult = p->out_mult;
    const int8_t *const shift = p->out_shift;
    const int32_t pc = p->per_channel != 0;
    const uint32_t s4_all = ofa_dup8(p->out_shift[0]); /* per-tensor: the one shift in the four bytes */
    int32_t b;

    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = input + b * n_in;
        int8_t *y = output + b * n_out;
        int32_t o = 0;
        if (quads != 0 && n_out >= 4) {
            for (; o < n_out; o += 4) {
                /* the next four rows, or the last four; the general entry point leaves 1-2 rows to the
                 * two-row loop (cheaper than recomputing 2-3 rows), the 4-row one has no other loop */
                const int32_t r = o + 4 <= n_out ? o : n_out - 4;
                const int32_t *const m = mult + (pc ? r : 0);
                const uint32_t s4 = pc ? (uint32_t)ofa_load_s8x4(shift + r) : s4_all;
                int8_t *const dst = y + r;
                int32_t acc[4];
                if (quads == 1 && n_out - o < 3) {
                    break;
                }
                if (bias) {
                    acc[0] = bias[r];
                    acc[1] = bias[r + 1];
                    acc[2] = bias[r + 2];
                    acc[3] = bias[r + 3];
                } else {
                    acc[0] = acc[1] = acc[2] = acc[3] = 0;
                }
                fc_dot4(x, weights + r * n_in, weights + (r + 2) * n_in, n_in, n_in, in_off, acc);
                if (ofa_all_neg4(s4)) {
                    const uint32_t e4 = ofa_neg_shifts4(s4);
                    const uint32_t v = ofa_clamp4_s8(ofa_output_sat8(acc[0], m[0], (int32_t)e4, out_off),
                                                     ofa_output_sat8(acc[1], m[pc], (int32_t)(e4 >> 8), out_off),
                                                     ofa_output_sat8(acc[2], m[2 * pc], (int32_t)(e4 >> 16), out_off),
                                                     ofa_output_sat8(acc[3], m[3 * pc], (int32_t)(e4 >> 24), out_off),
                                                     lo4, hi4);
                    memcpy(dst, &v, 4);
                } else {
                    dst[0] = fc_output_any(acc[0], m[0], (int32_t)s4, 0, p);
                    dst[1] = fc_output_any(acc[1], m[pc], (int32_t)s4, 1, p);
                    dst[2] = fc_output_any(acc[2], m[2 * pc], (int32_t)s4, 2, p);
                    dst[3] = fc_output_any(acc[3], m[3 * pc], (int32_t)s4, 3, p);
                }
            }
        }
        if (quads != 2) {
            /* two rows at a time: every row (quads 0), fewer than 4 rows or the last 1-2 (quads 1) */
            for (; o < n_out; o += 2) {
                const int32_t o1 = o + 1 < n_out ? o + 1 : o, q0 = pc ? o : 0, q1 = pc ? o1 : 0;
                int32_t a0 = bias ? bias[o] : 0, a1 = bias ? bias[o1] : 0;
                ofa_dot2_off_s8(x, weights + o * n_in, weights + o1 * n_in, n_in, in_off, &a0, &a1);
                y[o] = ofa_output_s8(a0, mult[q0], shift[q0], out_off, p->act_min, p->act_max);
                y[o1] = ofa_output_s8(a1, mult[q1], shift[q1], out_off, p->act_min, p->act_max);
            }
        }
    }
}
#endif

#if OFA_USE_DSP
void ofa_fully_connected_s8(const ofa_fc_params_t *restrict p, const int8_t *restrict input,
                            int8_t *restrict output)
{
    fc_s8_dsp(p, input, output, 1);
}

/* DSP cores: out_features >= 4, the 4-row passes only (the last one over the last four rows) */
void ofa_fully_connected_s8_x4(const ofa_fc_params_t *restrict p, const int8_t *restrict input,
                               int8_t *restrict output)
{
    fc_s8_dsp(p, input, output, 2);
}

/* rows two at a time only (any out_features) */
void ofa_fully_connected_s8_x2(const ofa_fc_params_t *restrict p, const int8_t *restrict input,
                               int8_t *restrict output)
{
    fc_s8_dsp(p, input, output, 0);
}
#else
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
            fc_dot4(x, p->weights + o * n_in, p->weights + (o + 2) * n_in, n_in, n_in, p->in_offset, acc);
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
#endif
