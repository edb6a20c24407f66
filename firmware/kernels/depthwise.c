/*
 * depthwise.c - int8 DEPTHWISE_CONV_2D, depth multiplier 1, per-channel
 * requantization, TFLM reference arithmetic:
 *   out[y][x][c] = clamp(requant(sum_{in-image taps} w[ky][kx][c] *
 *                  (in[iy][ix][c] + in_offset) + bias[c]) + out_offset)
 *
 * Two ways through a layer:
 *  - channel planes (dw_plane): one output channel at a time, so bias, multiplier, shift and the
 *    channel's weights stay in registers. The plane's input rows are copied into a stack band
 *    padded with the input zero point (a padded tap contributes w * (zp + in_offset) = 0, exactly
 *    TFLM's skipped tap), so every window is whole and the input offset is folded into the bias:
 *    3x3 kernels on any core (dw_plane3_padded; DSP: two outputs per row word), kernels up to 8x8
 *    on DSP cores (dw_plane_padded_dsp: SMLAD over tap pairs); other shapes skip border taps
 *    (dw_plane_any);
 *  - channels in lanes: on DSP cores blocks of four channels per word (dw_lanes4: SXTAB16 +
 *    SMLABB/SMLATT keep the channels apart; each window's in-image taps through dw_window4), block
 *    after block over the plane, then any channels left over one at a time (dw_lanes, the only
 *    lanes loop on other cores). For planes of fewer than 16 outputs, where a plane's set-up would
 *    dominate, and on DSP cores for 3x3 stride-1 planes up to 7x7 outputs and for every other
 *    kernel and stride (in place: up to 8x8 outputs).
 * ofa_depthwise_s8_inplace: planes through the one-plane scratch buffer, small planes in lanes
 *   four channels at a time through a 256-byte stack buffer; see the layout contract in
 *   ofa_kernels.h.
 * Which way a layer goes depends on its shape only (ofa_depthwise_variant). Each way is an entry
 * point of its own (ofa_depthwise_s8_lanes, _plane3, _plane_k, _plane_any and the _inplace_ ones),
 * which generated models call directly so that unused ways are not linked; ofa_depthwise_s8 and
 * ofa_depthwise_s8_inplace dispatch at run time.
 * Every path computes the same integers; tests/test_kernels.py checks them against TFLM and a
 * numpy model of its arithmetic.
 */
#include <stddef.h>
#include <string.h>

#include "ofa_kernels.h"
#include "ofa_dot.h"
#include "ofa_requant.h"
#include "ofa_window.h"

/* the two plane kernels are never inlined into one frame: the stack peak is the larger of them */
#if defined(__GNUC__)
#define OFA_DW_NOINLINE __attribute__((noinline))
#else
#define OFA_DW_NOINLINE
#endif

#if OFA_USE_DSP
/* what dw_window4 reads besides the window's position (offsets used by its assembly) */
typedef struct {
    int32_t acc[4];     /* 0: out, the sums */
    int32_t ch_n;       /* 16: channels, the step between taps */
    int32_t off2;       /* 20: the input offset in both halves */
    int32_t row_stride; /* 24: bytes between input rows */
    int32_t w_row;      /* 28: bytes between kernel rows */
    int32_t rows;       /* 32: kernel rows in the image */
    int32_t i0;         /* 36: (dw_window4) the first tap's index, < 0 */
    const int8_t *wend; /* 40: (dw_window4) we past the last row */
    int32_t bias[4];    /* 44: the bias of the block's four channels, where the sums start */
} dw_win_t;
#if defined(OFA_ARM_DSP)
/* the assembly's offsets (a negative array size fails to compile) */
typedef char dw_win_offsets_ok[(offsetof(dw_win_t, ch_n) == 16 && offsetof(dw_win_t, bias) == 44) ? 1 : -1];
#endif

/*
 * The in-image taps of one window for a block of four channels: acc_j += w[c+j] * (x[c+j] +
 * in_off), j = 0..3, over g->rows >= 1 kernel rows, each over the taps at xe + i and we + i for
 * i = i0, i0 + ch_n, ..., -ch_n (xe, we: just past the first row's last tap; i0 < 0). One index
 * serves the input and the weights and counts up to 0: 12 instructions a tap for four MACs of four
 * channels, 7 a kernel row, 12 a call. A function of its own, all of it one assembly block on
 * fourteen registers (the caller passes four arguments, the rest in *g): inlined into its caller's
 * loops, gcc spilled around every row (and could not always allocate it with -mfloat-abi=hard).
 */
OFA_DW_NOINLINE static void dw_window4(dw_win_t *g, const int8_t *xe, const int8_t *we, int32_t i0)
{
#if defined(OFA_ARM_DSP) && !defined(OFA_NO_ASM) && defined(__OPTIMIZE__)
    int32_t a0, a1, a2, a3, i, xs, off, xv, wv, t, u;
    g->i0 = i0;
    g->wend = we + g->rows * g->w_row;
    __asm__ volatile("ldrd %[a0], %[a1], [%[g], #44]\n\t"
                     "ldrd %[a2], %[a3], [%[g], #52]\n\t"
                     "ldrd %[xs], %[off], [%[g], #16]\n"
                     "2:\n\t"
                     "ldr %[i], [%[g], #36]\n"
                     "1:\n\t"
                     "ldr %[xv], [%[x], %[i]]\n\t"
                     "ldr %[wv], [%[w], %[i]]\n\t"
                     "sxtab16 %[u], %[off], %[xv]\n\t"
                     "sxtab16 %[xv], %[off], %[xv], ror #8\n\t"
                     "sxtb16 %[t], %[wv]\n\t"
                     "sxtb16 %[wv], %[wv], ror #8\n\t"
                     "smlabb %[a0], %[u], %[t], %[a0]\n\t"
                     "smlatt %[a2], %[u], %[t], %[a2]\n\t"
                     "smlabb %[a1], %[xv], %[wv], %[a1]\n\t"
                     "smlatt %[a3], %[xv], %[wv], %[a3]\n\t"
                     "adds %[i], %[i], %[xs]\n\t"
                     "bne 1b\n\t"
                     "ldrd %[t], %[u], [%[g], #24]\n\t"
                     "add %[x], %[x], %[t]\n\t"
                     "add %[w], %[w], %[u]\n\t"
                     "ldr %[t], [%[g], #40]\n\t"
                     "cmp %[w], %[t]\n\t"
                     "bne 2b\n\t"
                     "strd %[a0], %[a1], [%[g]]\n\t"
                     "strd %[a2], %[a3], [%[g], #8]"
                     : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [i] "=&r"(i), [xs] "=&r"(xs),
                       [off] "=&r"(off), [xv] "=&r"(xv), [wv] "=&r"(wv), [t] "=&r"(t), [u] "=&r"(u), [x] "+&r"(xe),
                       [w] "+&r"(we)
                     : [g] "r"(g)
                     : "cc", "memory");
#else
    const int32_t ch_n = g->ch_n, off2 = g->off2;
    int32_t a0 = g->bias[0], a1 = g->bias[1], a2 = g->bias[2], a3 = g->bias[3];
    int32_t r;
    for (r = g->rows; r > 0; --r) {
        int32_t i;
        for (i = i0; i != 0; i += ch_n) {
            const int32_t xv = ofa_load_s8x4(xe + i), wv = ofa_load_s8x4(we + i);
            int32_t t = ofa_sxtb16(wv), u = ofa_sxtab16(off2, xv);
            a0 = ofa_smlabb(u, t, a0);
            a2 = ofa_smlatt(u, t, a2);
            t = ofa_sxtb16_ror8(wv);
            u = ofa_sxtab16_ror8(off2, xv);
            a1 = ofa_smlabb(u, t, a1);
            a3 = ofa_smlatt(u, t, a3);
        }
        xe += g->row_stride;
        we += g->w_row;
    }
    g->acc[0] = a0;
    g->acc[1] = a1;
    g->acc[2] = a2;
    g->acc[3] = a3;
#endif
}
#endif

/*
 * Channels in lanes, one output pixel at a time: channels [c0, c1) of every output pixel, channel
 * c of pixel pix to output[pix * px_stride + c - c0], one channel after the other (on DSP cores
 * only the channels left over after blocks of four: dw_lanes4).
 */
static void dw_lanes(const ofa_conv_params_t *restrict p, const int8_t *restrict input, int32_t c0, int32_t c1,
                     int8_t *restrict output, int32_t px_stride)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, ch_n = p->in_c;
    const int32_t out_h = p->out_h, out_w = p->out_w;
    const int32_t k_h = p->k_h, k_w = p->k_w;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w;
    const int32_t pad_top = p->pad_top, pad_left = p->pad_left;
    const int32_t in_off = p->in_offset, out_off = p->out_offset;
    const int32_t lo = p->act_min, hi = p->act_max;
    const int8_t *const weights = p->weights;
    const int32_t *const bias = p->bias;
    const int32_t *const mult = p->out_mult;
    const int8_t *const shift = p->out_shift;
    const int32_t row_stride = in_w * ch_n;
    const int32_t w_row = k_w * ch_n;
    int32_t oy, ox;

    for (oy = 0; oy < out_h; ++oy) {
        const int32_t iy0 = oy * stride_h - pad_top;
        const int32_t ky_begin = ofa_tap_begin(iy0);
        const int32_t ky_end = ofa_tap_end(iy0, in_h, k_h);
        for (ox = 0; ox < out_w; ++ox) {
            const int32_t ix0 = ox * stride_w - pad_left;
            const int32_t kx_begin = ofa_tap_begin(ix0);
            const int32_t kx_end = ofa_tap_end(ix0, in_w, k_w);
            const int32_t ntaps_x = kx_end - kx_begin;
            int8_t *out_px = output + (oy * out_w + ox) * px_stride - c0;
            const int8_t *in_first;
            const int8_t *w_first;
            int32_t c = c0;

            if (ntaps_x <= 0 || ky_end <= ky_begin) {
                /* no tap in the image: only the bias (never happens for SAME/VALID) */
                for (c = c0; c < c1; ++c) {
                    out_px[c] = ofa_output_s8(bias ? bias[c] : 0, mult[c], shift[c], out_off, lo, hi);
                }
                continue;
            }
            /* first in-image tap, channel 0 */
            in_first = input + ((iy0 + ky_begin) * in_w + ix0 + kx_begin) * ch_n;
            w_first = weights + (ky_begin * k_w + kx_begin) * ch_n;
            for (; c < c1; ++c) {
                int32_t acc = bias ? bias[c] : 0;
                const int8_t *xr = in_first + c;
                const int8_t *wr = w_first + c;
                int32_t ky, kx;
                for (ky = ky_begin; ky < ky_end; ++ky) {
                    for (kx = 0; kx < ntaps_x; ++kx) {
                        acc += (int32_t)wr[kx * ch_n] * ((int32_t)xr[kx * ch_n] + in_off);
                    }
                    xr += row_stride;
                    wr += w_row;
                }
                out_px[c] = ofa_output_s8(acc, mult[c], shift[c], out_off, lo, hi);
            }
        }
    }
}

#if OFA_USE_DSP
/*
 * DSP cores, channels in lanes: blocks of four channels [c, c + 4) for c = 0, 4, ... while a whole
 * block fits, block after block, each over every output pixel (its bias, multipliers and shifts
 * loaded once): each window's in-image taps through dw_window4 (12 instructions a tap for four
 * channels), then the four-output stage and one word store, to out + pix * ch_n + c. In
 * place (tmp not NULL: the input is out) each block goes to tmp (4 bytes a pixel) and then over
 * the block's bytes of out, which only that block's windows read. Returns the channels done.
 */
OFA_DW_NOINLINE static int32_t dw_lanes4(const ofa_conv_params_t *restrict p, const int8_t *input, int8_t *out,
                                         int8_t *tmp)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, ch_n = p->in_c;
    const int32_t out_h = p->out_h, out_w = p->out_w;
    const int32_t k_h = p->k_h, k_w = p->k_w;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w;
    const int32_t pad_top = p->pad_top, pad_left = p->pad_left;
    const int32_t out_off = p->out_offset, lo = p->act_min, hi = p->act_max;
    const uint32_t lo4 = ofa_dup8(lo), hi4 = ofa_dup8(hi);
    const int32_t row_stride = in_w * ch_n, w_row = k_w * ch_n;
    const int32_t px_stride = tmp ? 4 : ch_n;
    dw_win_t g;
    int32_t c;

    g.ch_n = ch_n;
    g.off2 = ofa_dup16(p->in_offset);
    g.row_stride = in_w * ch_n;
    g.w_row = k_w * ch_n;

    for (c = 0; c + 4 <= ch_n; c += 4) {
        const int32_t *const mult = p->out_mult + c;
        const int8_t *const shift = p->out_shift + c;
        const int32_t b0 = p->bias ? p->bias[c] : 0, b1 = p->bias ? p->bias[c + 1] : 0;
        const int32_t b2 = p->bias ? p->bias[c + 2] : 0, b3 = p->bias ? p->bias[c + 3] : 0;
        const uint32_t s4 = (uint32_t)ofa_load_s8x4(shift);
        const int right = ofa_all_neg4(s4); /* four right shifts: the four-output stage */
        const uint32_t e4 = ofa_neg_shifts4(s4);
        const int8_t *const xc = input + c;
        const int8_t *const wc = p->weights + c;
        int8_t *dst = tmp ? tmp : out + c;
        int32_t oy, ox;

        g.bias[0] = b0;
        g.bias[1] = b1;
        g.bias[2] = b2;
        g.bias[3] = b3;

        for (oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * stride_h - pad_top;
            const int32_t ky_begin = ofa_tap_begin(iy0);
            const int8_t *const xrow = xc + (iy0 + ky_begin) * row_stride; /* column 0 of the first row read */
            const int8_t *const wrow = wc + ky_begin * w_row;
            g.rows = ofa_tap_end(iy0, in_h, k_h) - ky_begin;
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * stride_w - pad_left;
                const int32_t kx_begin = ofa_tap_begin(ix0);
                const int32_t kx_end = ofa_tap_end(ix0, in_w, k_w);
                const int32_t i0 = (kx_begin - kx_end) * ch_n; /* < 0: taps in the image */
                int32_t a0 = b0, a1 = b1, a2 = b2, a3 = b3;
                if (i0 < 0 && g.rows > 0) {
                    /* just past the first row's last tap */
                    dw_window4(&g, xrow + (ix0 + kx_end) * ch_n, wrow + kx_end * ch_n, i0);
                    a0 = g.acc[0];
                    a1 = g.acc[1];
                    a2 = g.acc[2];
                    a3 = g.acc[3];
                }
                if (right) {
                    const uint32_t v = ofa_clamp4_s8(ofa_output_sat8(a0, mult[0], (int32_t)e4, out_off),
                                                     ofa_output_sat8(a1, mult[1], (int32_t)(e4 >> 8), out_off),
                                                     ofa_output_sat8(a2, mult[2], (int32_t)(e4 >> 16), out_off),
                                                     ofa_output_sat8(a3, mult[3], (int32_t)(e4 >> 24), out_off),
                                                     lo4, hi4);
                    memcpy(dst, &v, 4);
                } else {
                    dst[0] = ofa_output_s8(a0, mult[0], shift[0], out_off, lo, hi);
                    dst[1] = ofa_output_s8(a1, mult[1], shift[1], out_off, lo, hi);
                    dst[2] = ofa_output_s8(a2, mult[2], shift[2], out_off, lo, hi);
                    dst[3] = ofa_output_s8(a3, mult[3], shift[3], out_off, lo, hi);
                }
                dst += px_stride;
            }
        }
        if (tmp) {
            const int32_t npix = out_h * out_w;
            int8_t *o = out + c;
            int32_t pix;
            for (pix = 0; pix < npix; ++pix) {
                memcpy(o, tmp + 4 * pix, 4);
                o += ch_n;
            }
        }
    }
    return c;
}
#endif

/* channels in lanes, straight into the output: on DSP cores blocks of four (dw_lanes4), then the rest */
static void dw_lanes_all(const ofa_conv_params_t *restrict p, const int8_t *restrict input, int8_t *restrict output)
{
    int32_t c = 0;
#if OFA_USE_DSP
    c = dw_lanes4(p, input, output, 0);
    if (c == p->in_c) {
        return;
    }
#endif
    dw_lanes(p, input, c, p->in_c, output + c, p->in_c);
}

/* kernels up to this many taps (8x8) keep one channel's weights on the stack in the in-place path */
#define OFA_DW_LOCAL_TAPS 64

/* 3x3 channel planes go through a padded copy of this many bytes: the whole plane (14x14 and
 * smaller) or a band of rows of it (planes up to 82 wide) */
#define OFA_DW_PAD_BYTES 256

/* output rows per padded band of a 3x3 depthwise conv (0: a band of one row does not fit) */
static int32_t dw_band_rows(const ofa_conv_params_t *p)
{
    const int32_t pw = (p->out_w - 1) * p->stride_w + 3;
    const int32_t rows = OFA_DW_PAD_BYTES / pw; /* padded input rows that fit */
    if (p->k_h != 3 || p->k_w != 3 || rows < 3) {
        return 0;
    }
    return (rows - 3) / p->stride_h + 1;
}

/*
 * Input rows [top, top + rows) of channel `ch` into a band of `pw`-byte rows: columns [left,
 * left + mid) from the image, the rest, and rows outside the image, the input zero point (a
 * padded tap then contributes w * (zp + in_offset) = 0, TFLM's skipped tap); then `tail` more
 * zero-point bytes that a word load of the last window may read. Every byte is stored XOR
 * `flip` (0x80: x + 128 as uint8, for LDRB). dw_fill_band_view reads a view of one channel: pixel
 * (row r, column c) at x[r * row_step + c * col_step], rows [0, in_h) in the image (a transposed
 * view swaps the steps); dw_fill_band the layer's input as it is.
 */
OFA_NO_LIBCALLS static inline void dw_fill_band_view(const ofa_conv_params_t *restrict p, const int8_t *restrict x,
                                                     int32_t in_h, int32_t row_step, int32_t col_step,
                                                     int8_t *restrict pad, int32_t pw, int32_t top, int32_t rows,
                                                     int32_t left, int32_t mid, int32_t tail, int32_t flip)
{
    const int8_t zp = (int8_t)(-p->in_offset ^ flip);
    int32_t r, c;
    for (r = 0; r < rows; ++r) {
        const int32_t iy = top + r;
        int8_t *row = pad + r * pw;
        if (iy < 0 || iy >= in_h) {
            for (c = 0; c < pw; ++c) {
                row[c] = zp;
            }
            continue;
        }
        {
            const int8_t *src = x + iy * row_step;
            for (c = 0; c < left; ++c) {
                row[c] = zp;
            }
            c = 0;
#if OFA_USE_DSP
            {
                /* four bytes gathered into a word, one (unaligned) store */
                const int32_t s2 = 2 * col_step, s3 = 3 * col_step;
                const uint32_t flip4 = ofa_dup8(flip);
                for (; c + 4 <= mid; c += 4) {
                    const uint32_t v = ((uint32_t)(uint8_t)src[0] | ((uint32_t)(uint8_t)src[col_step] << 8) |
                                        ((uint32_t)(uint8_t)src[s2] << 16) | ((uint32_t)(uint8_t)src[s3] << 24)) ^
                                       flip4;
                    memcpy(row + left + c, &v, 4);
                    src += 4 * col_step;
                }
            }
#endif
            for (; c < mid; ++c) {
                row[left + c] = (int8_t)(*src ^ flip);
                src += col_step;
            }
            for (c = left + mid; c < pw; ++c) {
                row[c] = zp;
            }
        }
    }
    for (c = 0; c < tail; ++c) {
        pad[rows * pw + c] = zp;
    }
}

OFA_NO_LIBCALLS static inline void dw_fill_band(const ofa_conv_params_t *restrict p, const int8_t *restrict input,
                                                int32_t ch, int8_t *restrict pad, int32_t pw, int32_t top,
                                                int32_t rows, int32_t left, int32_t mid, int32_t tail, int32_t flip)
{
    dw_fill_band_view(p, input + ch, p->in_h, p->in_w * p->in_c, p->in_c, pad, pw, top, rows, left, mid, tail, flip);
}

/*
 * A 3x3 channel plane through a padded copy on the stack, `band` output rows at a time: the
 * input rows of channel `ch` those rows read, plus their padding, the padding filled with the
 * input zero point. A padded tap then contributes
 * w * (zp + in_offset) = 0, exactly what TFLM's skipped tap contributes, so every output is a
 * full window with the input offset folded into the bias (bias + in_offset * sum w): no border
 * cases, the nine weights in registers. Stride 1: two outputs per step share four loads a row.
 */
OFA_DW_NOINLINE OFA_NO_LIBCALLS static void dw_plane3_padded(const ofa_conv_params_t *restrict p, const int8_t *restrict input,
                                             int32_t ch, int8_t *restrict dst0, int32_t dst_stride, int32_t pw,
                                             int32_t band, int tr)
{
    /* tr: the plane transposed (rows of the band are columns of the image; see dw_plane3) */
    const int32_t ch_n = p->in_c;
    const int32_t in_h = tr ? p->in_w : p->in_h, in_w = tr ? p->in_h : p->in_w;
    const int32_t out_h = tr ? p->out_w : p->out_h, out_w = tr ? p->out_h : p->out_w;
    const int32_t stride_h = tr ? p->stride_w : p->stride_h, stride_w = tr ? p->stride_h : p->stride_w;
    const int32_t pad_top = tr ? p->pad_left : p->pad_top, pad_left = tr ? p->pad_top : p->pad_left;
    const int32_t row_step = tr ? ch_n : p->in_w * ch_n, col_step = tr ? p->in_w * ch_n : ch_n;
    /* output steps: along a row of the view, and from one row of the view to the next */
    const int32_t dstep = tr ? p->out_w * dst_stride : dst_stride, drow = tr ? dst_stride : p->out_w * dst_stride;
    const int32_t in_off = p->in_offset, out_off = p->out_offset;
    const int32_t lo = p->act_min, hi = p->act_max;
    const int8_t *const wc = p->weights + ch;
    const int32_t mult = p->out_mult[ch];
    const int shift = p->out_shift[ch];
    const int32_t w0 = wc[0], w1 = wc[(tr ? 3 : 1) * ch_n], w2 = wc[(tr ? 6 : 2) * ch_n];
    const int32_t w3 = wc[(tr ? 1 : 3) * ch_n], w4 = wc[4 * ch_n], w5 = wc[(tr ? 7 : 5) * ch_n];
    const int32_t w6 = wc[(tr ? 2 : 6) * ch_n], w7 = wc[(tr ? 5 : 7) * ch_n], w8 = wc[8 * ch_n];
    int8_t *dst;
    const int32_t base = (p->bias ? p->bias[ch] : 0) + in_off * (w0 + w1 + w2 + w3 + w4 + w5 + w6 + w7 + w8);
    /* columns of the padded row: [0, left) padding, [left, left + mid) image, the rest padding */
    const int32_t left = pad_left < pw ? pad_left : pw;
    const int32_t mid = (in_w < pw - left) ? in_w : pw - left;
    /* word-aligned; + 4: a word load of the last window may read past the plane */
    uint32_t pad_words[(OFA_DW_PAD_BYTES + 4 + 3) / 4];
    int8_t *const pad = (int8_t *)pad_words;
    int32_t oy, ox;
#if OFA_USE_DSP
    /* (w0, w2) and w1 of each row as int16 halves */
    const int32_t k02a = ofa_pk16(w0, w2), k02b = ofa_pk16(w3, w5), k02c = ofa_pk16(w6, w8);
    const uint32_t lo4 = ofa_dup8(lo), hi4 = ofa_dup8(hi);
#endif

    int32_t oy0;
    for (oy0 = 0; oy0 < out_h; oy0 += band) {
    const int32_t band_h = (out_h - oy0) < band ? (out_h - oy0) : band;
    const int32_t ph = (band_h - 1) * stride_h + 3;
    const int32_t top = oy0 * stride_h - pad_top; /* input row of padded row 0 */
    /* + 4: a word load past the band */
    dw_fill_band_view(p, input + ch, in_h, row_step, col_step, pad, pw, top, ph, left, mid, 4, 0);
#if OFA_USE_DSP
    /*
     * A word x0..x3 of a padded row widens to e = (x0, x2) and o = (x1, x3). The window at x0 is
     * e.(w0, w2) + o.lo * w1 (SMLAD + SMLABB), the one at x1 is o.(w0, w2) + e.hi * w1 (SMLAD +
     * SMLATB): two outputs, one load and two SXTB16 per row.
     */
    for (oy = 0; oy < band_h; ++oy) {
        const int8_t *r0 = pad + oy * stride_h * pw;
        dst = dst0 + (oy0 + oy) * drow;
        ox = 0;
        if (stride_w == 1 && shift < 0) {
            /* four outputs per step, the two-output form on the words at +0 and +2, through the
             * four-output stage */
            const int32_t e = -shift;
            for (; ox + 4 <= out_w; ox += 4) {
                int32_t a = base, b = base, c = base, d = base, v, ev, od;
                uint32_t q;
                v = ofa_load_s8x4(r0);
                ev = ofa_sxtb16(v);
                od = ofa_sxtb16_ror8(v);
                a = ofa_smlabb(od, w1, ofa_smlad(ev, k02a, a));
                b = ofa_smlatb(ev, w1, ofa_smlad(od, k02a, b));
                v = ofa_load_s8x4(r0 + 2);
                ev = ofa_sxtb16(v);
                od = ofa_sxtb16_ror8(v);
                c = ofa_smlabb(od, w1, ofa_smlad(ev, k02a, c));
                d = ofa_smlatb(ev, w1, ofa_smlad(od, k02a, d));
                v = ofa_load_s8x4(r0 + pw);
                ev = ofa_sxtb16(v);
                od = ofa_sxtb16_ror8(v);
                a = ofa_smlabb(od, w4, ofa_smlad(ev, k02b, a));
                b = ofa_smlatb(ev, w4, ofa_smlad(od, k02b, b));
                v = ofa_load_s8x4(r0 + pw + 2);
                ev = ofa_sxtb16(v);
                od = ofa_sxtb16_ror8(v);
                c = ofa_smlabb(od, w4, ofa_smlad(ev, k02b, c));
                d = ofa_smlatb(ev, w4, ofa_smlad(od, k02b, d));
                v = ofa_load_s8x4(r0 + 2 * pw);
                ev = ofa_sxtb16(v);
                od = ofa_sxtb16_ror8(v);
                a = ofa_smlabb(od, w7, ofa_smlad(ev, k02c, a));
                b = ofa_smlatb(ev, w7, ofa_smlad(od, k02c, b));
                v = ofa_load_s8x4(r0 + 2 * pw + 2);
                ev = ofa_sxtb16(v);
                od = ofa_sxtb16_ror8(v);
                c = ofa_smlabb(od, w7, ofa_smlad(ev, k02c, c));
                d = ofa_smlatb(ev, w7, ofa_smlad(od, k02c, d));
                q = ofa_clamp4_s8(ofa_output_sat8(a, mult, e, out_off), ofa_output_sat8(b, mult, e, out_off),
                                  ofa_output_sat8(c, mult, e, out_off), ofa_output_sat8(d, mult, e, out_off), lo4, hi4);
                if (dstep == 1) {
                    memcpy(dst, &q, 4);
                } else {
                    dst[0] = (int8_t)q;
                    dst[dstep] = (int8_t)(q >> 8);
                    dst[2 * dstep] = (int8_t)(q >> 16);
                    dst[3 * dstep] = (int8_t)(q >> 24);
                }
                dst += 4 * dstep;
                r0 += 4;
            }
        }
        if (stride_w == 1) {
            for (; ox + 2 <= out_w; ox += 2) {
                int32_t a = base, b = base, v, e, o;
                v = ofa_load_s8x4(r0);
                e = ofa_sxtb16(v);
                o = ofa_sxtb16_ror8(v);
                a = ofa_smlabb(o, w1, ofa_smlad(e, k02a, a));
                b = ofa_smlatb(e, w1, ofa_smlad(o, k02a, b));
                v = ofa_load_s8x4(r0 + pw);
                e = ofa_sxtb16(v);
                o = ofa_sxtb16_ror8(v);
                a = ofa_smlabb(o, w4, ofa_smlad(e, k02b, a));
                b = ofa_smlatb(e, w4, ofa_smlad(o, k02b, b));
                v = ofa_load_s8x4(r0 + 2 * pw);
                e = ofa_sxtb16(v);
                o = ofa_sxtb16_ror8(v);
                a = ofa_smlabb(o, w7, ofa_smlad(e, k02c, a));
                b = ofa_smlatb(e, w7, ofa_smlad(o, k02c, b));
                dst[0] = ofa_output_s8(a, mult, shift, out_off, lo, hi);
                dst[dstep] = ofa_output_s8(b, mult, shift, out_off, lo, hi);
                dst += 2 * dstep;
                r0 += 2;
            }
        }
        for (; ox < out_w; ++ox) {
            int32_t a = base, v;
            v = ofa_load_s8x4(r0);
            a = ofa_smlabb(ofa_sxtb16_ror8(v), w1, ofa_smlad(ofa_sxtb16(v), k02a, a));
            v = ofa_load_s8x4(r0 + pw);
            a = ofa_smlabb(ofa_sxtb16_ror8(v), w4, ofa_smlad(ofa_sxtb16(v), k02b, a));
            v = ofa_load_s8x4(r0 + 2 * pw);
            a = ofa_smlabb(ofa_sxtb16_ror8(v), w7, ofa_smlad(ofa_sxtb16(v), k02c, a));
            *dst = ofa_output_s8(a, mult, shift, out_off, lo, hi);
            dst += dstep;
            r0 += stride_w;
        }
    }
#else
    for (oy = 0; oy < band_h; ++oy) {
        const int8_t *r0 = pad + oy * stride_h * pw;
        const int8_t *r1 = r0 + pw;
        const int8_t *r2 = r1 + pw;
        dst = dst0 + (oy0 + oy) * drow;
        ox = 0;
        for (; ox < out_w; ++ox) {
            int32_t a = base;
            a += w0 * r0[0] + w1 * r0[1] + w2 * r0[2];
            a += w3 * r1[0] + w4 * r1[1] + w5 * r1[2];
            a += w6 * r2[0] + w7 * r2[1] + w8 * r2[2];
            *dst = ofa_output_s8(a, mult, shift, out_off, lo, hi);
            dst += dstep;
            r0 += stride_w;
            r1 += stride_w;
            r2 += stride_w;
        }
    }
#endif
    }
}

#if OFA_USE_DSP
/* kernels up to this size (both axes) have a DSP padded-plane path (dw_plane_padded_dsp) */
#define OFA_DW_PAD_MAX_K 8

/* output rows per padded band of a k_h x k_w depthwise conv, 0 when not even one fits */
static int32_t dw_band_rows_k(const ofa_conv_params_t *p)
{
    const int32_t pw = (p->out_w - 1) * p->stride_w + p->k_w;
    const int32_t rows = OFA_DW_PAD_BYTES / pw;
    if (p->k_h > OFA_DW_PAD_MAX_K || p->k_w > OFA_DW_PAD_MAX_K || rows < p->k_h) {
        return 0;
    }
    return (rows - p->k_h) / p->stride_h + 1;
}

/*
 * Any kernel up to 8x8 on DSP cores, one channel plane through padded bands as dw_plane3_padded
 * (the input offset folded into the bias): each kernel row in groups of four taps, a word of the
 * padded row widened to (x0, x2), (x1, x3) against the packed weights (w0, w2), (w1, w3) by two
 * SMLAD (taps past the row have weight 0); a last single tap by a multiply-accumulate. Stride 1:
 * two outputs per step share the weight loads.
 */
OFA_DW_NOINLINE OFA_NO_LIBCALLS static void dw_plane_padded_dsp(const ofa_conv_params_t *restrict p,
                                                const int8_t *restrict input, int32_t ch, int8_t *restrict dst,
                                                int32_t dst_stride, int32_t pw, int32_t band)
{
    const int32_t in_w = p->in_w, ch_n = p->in_c;
    const int32_t out_h = p->out_h, out_w = p->out_w;
    const int32_t k_h = p->k_h, k_w = p->k_w;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w;
    const int32_t pad_top = p->pad_top, pad_left = p->pad_left;
    const int32_t in_off = p->in_offset, out_off = p->out_offset;
    const int32_t lo = p->act_min, hi = p->act_max;
    const int32_t mult = p->out_mult[ch];
    const int shift = p->out_shift[ch];
    /* groups of four taps per row, and a last single tap when k_w % 4 == 1 */
    const int32_t groups = (k_w % 4 == 1) ? k_w / 4 : (k_w + 3) / 4;
    const int single = k_w % 4 == 1;
    const int32_t left = pad_left < pw ? pad_left : pw;
    const int32_t mid = (in_w < pw - left) ? in_w : pw - left;
    int32_t wk[OFA_DW_PAD_MAX_K * 4]; /* per row: groups x ((w0, w2), (w1, w3)), then the single tap */
    uint32_t pad_words[(OFA_DW_PAD_BYTES + 8 + 3) / 4];
    int8_t *const pad = (int8_t *)pad_words;
    int32_t base = p->bias ? p->bias[ch] : 0;
    int32_t wsum = 0;
    int32_t r, c, g, oy, ox, oy0;
    int32_t *wp = wk;
    const uint32_t lo4 = ofa_dup8(lo), hi4 = ofa_dup8(hi);

    for (r = 0; r < k_h; ++r) {
        const int8_t *wr = p->weights + r * k_w * ch_n + ch;
        int32_t t[4];
        for (g = 0; g < groups; ++g) {
            for (c = 0; c < 4; ++c) {
                const int32_t kx = 4 * g + c;
                t[c] = kx < k_w ? wr[kx * ch_n] : 0;
                wsum += t[c];
            }
            *wp++ = ofa_pk16(t[0], t[2]);
            *wp++ = ofa_pk16(t[1], t[3]);
        }
        if (single) {
            *wp = wr[(k_w - 1) * ch_n];
            wsum += *wp++;
        }
    }
    base += in_off * wsum;
    for (oy0 = 0; oy0 < out_h; oy0 += band) {
        const int32_t band_h = (out_h - oy0) < band ? (out_h - oy0) : band;
        const int32_t ph = (band_h - 1) * stride_h + k_h;
        const int32_t top = oy0 * stride_h - pad_top;
        dw_fill_band(p, input, ch, pad, pw, top, ph, left, mid, 8, 0); /* + 8: a group's word past the band */
        for (oy = 0; oy < band_h; ++oy) {
            const int8_t *row0 = pad + oy * stride_h * pw;
            ox = 0;
            if (stride_w == 1 && shift < 0) {
                /* four outputs per step: the weight words and the loop serve four windows, the
                 * words at +1, +2, +3 are the next windows' (unaligned loads); a last single tap
                 * of the four windows is one word, widened, against its weight (SMLABB / SMLATB) */
                const int32_t e = -shift;
                for (; ox + 4 <= out_w; ox += 4) {
                    int32_t a = base, b = base, c2 = base, d = base;
                    const int8_t *rr = row0 + ox;
                    const int32_t *w = wk;
                    int32_t ky;
                    uint32_t v;
                    for (ky = 0; ky < k_h; ++ky, rr += pw) {
                        const int8_t *rg = rr;
                        for (g = 0; g < groups; ++g, rg += 4, w += 2) {
                            const int32_t w02 = w[0], w13 = w[1];
                            int32_t u = ofa_load_s8x4(rg);
                            a = ofa_smlad(ofa_sxtb16(u), w02, a);
                            a = ofa_smlad(ofa_sxtb16_ror8(u), w13, a);
                            u = ofa_load_s8x4(rg + 1);
                            b = ofa_smlad(ofa_sxtb16(u), w02, b);
                            b = ofa_smlad(ofa_sxtb16_ror8(u), w13, b);
                            u = ofa_load_s8x4(rg + 2);
                            c2 = ofa_smlad(ofa_sxtb16(u), w02, c2);
                            c2 = ofa_smlad(ofa_sxtb16_ror8(u), w13, c2);
                            u = ofa_load_s8x4(rg + 3);
                            d = ofa_smlad(ofa_sxtb16(u), w02, d);
                            d = ofa_smlad(ofa_sxtb16_ror8(u), w13, d);
                        }
                        if (single) {
                            const int32_t ws = *w++;
                            const int32_t u = ofa_load_s8x4(rr + k_w - 1);
                            const int32_t ev = ofa_sxtb16(u), od = ofa_sxtb16_ror8(u);
                            a = ofa_smlabb(ev, ws, a);
                            b = ofa_smlabb(od, ws, b);
                            c2 = ofa_smlatb(ev, ws, c2);
                            d = ofa_smlatb(od, ws, d);
                        }
                    }
                    v = ofa_clamp4_s8(ofa_output_sat8(a, mult, e, out_off), ofa_output_sat8(b, mult, e, out_off),
                                      ofa_output_sat8(c2, mult, e, out_off), ofa_output_sat8(d, mult, e, out_off),
                                      lo4, hi4);
                    dst[0] = (int8_t)v;
                    dst[dst_stride] = (int8_t)(v >> 8);
                    dst[2 * dst_stride] = (int8_t)(v >> 16);
                    dst[3 * dst_stride] = (int8_t)(v >> 24);
                    dst += 4 * dst_stride;
                }
            }
            if (stride_w == 1) {
                for (; ox + 2 <= out_w; ox += 2) {
                    int32_t a = base, b = base;
                    const int8_t *rr = row0 + ox;
                    const int32_t *w = wk;
                    int32_t ky;
                    for (ky = 0; ky < k_h; ++ky, rr += pw) {
                        for (g = 0; g < groups; ++g) {
                            const int32_t u = ofa_load_s8x4(rr + 4 * g);
                            const int32_t v = ofa_load_s8x4(rr + 4 * g + 1);
                            a = ofa_smlad(ofa_sxtb16(u), w[0], a);
                            a = ofa_smlad(ofa_sxtb16_ror8(u), w[1], a);
                            b = ofa_smlad(ofa_sxtb16(v), w[0], b);
                            b = ofa_smlad(ofa_sxtb16_ror8(v), w[1], b);
                            w += 2;
                        }
                        if (single) {
                            a += *w * rr[k_w - 1];
                            b += *w * rr[k_w];
                            ++w;
                        }
                    }
                    dst[0] = ofa_output_s8(a, mult, shift, out_off, lo, hi);
                    dst[dst_stride] = ofa_output_s8(b, mult, shift, out_off, lo, hi);
                    dst += 2 * dst_stride;
                }
            }
            for (; ox < out_w; ++ox) {
                int32_t a = base;
                const int8_t *rr = row0 + ox * stride_w;
                const int32_t *w = wk;
                int32_t ky;
                for (ky = 0; ky < k_h; ++ky, rr += pw) {
                    for (g = 0; g < groups; ++g) {
                        const int32_t u = ofa_load_s8x4(rr + 4 * g);
                        a = ofa_smlad(ofa_sxtb16(u), w[0], a);
                        a = ofa_smlad(ofa_sxtb16_ror8(u), w[1], a);
                        w += 2;
                    }
                    if (single) {
                        a += *w++ * rr[k_w - 1];
                    }
                }
                *dst = ofa_output_s8(a, mult, shift, out_off, lo, hi);
                dst += dst_stride;
            }
        }
    }
}
#endif

#if defined(OFA_M0_ASM)
/* ARMv6-M: odd kernel widths up to this have a padded-plane path (dw_plane_padded_m0) */
#define OFA_DW_M0_MAX_K 7

/* output rows per padded band of the ARMv6-M plane kernel, 0 when it does not apply */
static int32_t dw_band_rows_m0(const ofa_conv_params_t *p)
{
    const int32_t pw = (p->out_w - 1) * p->stride_w + p->k_w;
    const int32_t rows = OFA_DW_PAD_BYTES / pw;
    if (p->k_w > OFA_DW_M0_MAX_K || p->k_h > OFA_DW_M0_MAX_K || (p->k_w & 1) == 0 || rows < p->k_h) {
        return 0;
    }
    return (rows - p->k_h) / p->stride_h + 1;
}

/*
 * One kernel tap t of the ARMv6-M window loop: both outputs' products with the tap's weight (the
 * weight loaded once), a += w * x_a[t], b += w * x_b[t]; 7 instructions for 2 MACs.
 */
#define OFA_DW_M0_TAP(t, w4)                      \
    "ldr %[w], [%[wq], #" w4 "]\n\t"              \
    "ldrb %[xa], [%[qa], #" t "]\n\t"             \
    "ldrb %[xb], [%[qb], #" t "]\n\t"             \
    "muls %[xa], %[w], %[xa]\n\t"                 \
    "add %[a], %[xa]\n\t"                         \
    "muls %[w], %[xb], %[w]\n\t"                  \
    "add %[b], %[w]\n\t"

/*
 * Stride 1: the second window's byte t is the first window's byte t + 1, so each byte is loaded
 * once per row (into xa and xb by turns): 6 instructions for 2 MACs, and no second row pointer.
 */
#define OFA_DW_M0_TAP1(t1, w4, cur, nxt)          \
    "ldr %[w], [%[wq], #" w4 "]\n\t"              \
    "ldrb %[" nxt "], [%[qa], #" t1 "]\n\t"       \
    "muls %[" cur "], %[w], %[" cur "]\n\t"       \
    "add %[a], %[" cur "]\n\t"                    \
    "muls %[w], %[" nxt "], %[w]\n\t"             \
    "add %[b], %[w]\n\t"

#define OFA_DW_M0_WINDOWS1(taps, row_bytes)                                                                 \
    __asm__(".syntax unified\n"                                                                             \
            "1:\n\t"                                                                                        \
            "ldrb %[xa], [%[qa], #0]\n\t" taps                                                              \
            "add %[qa], %[pw]\n\t"                                                                          \
            "adds %[wq], #" row_bytes "\n\t"                                                                \
            "cmp %[wq], %[wend]\n\t"                                                                        \
            "bne 1b"                                                                                        \
            : [a] "+h"(a), [b] "+h"(b), [qa] "+l"(qa), [wq] "+l"(wq), [w] "=&l"(w), [xa] "=&l"(xa),         \
              [xb] "=&l"(xb)                                                                                \
            : [pw] "h"(pw), [wend] "h"(wend)                                                                \
            : "cc", "memory")
#define OFA_DW_M0_T1E(t1, w4) OFA_DW_M0_TAP1(t1, w4, "xa", "xb")
#define OFA_DW_M0_T1O(t1, w4) OFA_DW_M0_TAP1(t1, w4, "xb", "xa")

/* the rows of two windows: kernel row after kernel row until wq reaches wend */
#define OFA_DW_M0_WINDOWS(taps, row_bytes)                                                                  \
    __asm__(".syntax unified\n"                                                                             \
            "1:\n\t" taps                                                                                   \
            "add %[qa], %[pw]\n\t"                                                                          \
            "add %[qb], %[pw]\n\t"                                                                          \
            "adds %[wq], #" row_bytes "\n\t"                                                                \
            "cmp %[wq], %[wend]\n\t"                                                                        \
            "bne 1b"                                                                                        \
            : [a] "+h"(a), [b] "+h"(b), [qa] "+l"(qa), [qb] "+l"(qb), [wq] "+l"(wq), [w] "=&l"(w),          \
              [xa] "=&l"(xa), [xb] "=&l"(xb)                                                                \
            : [pw] "h"(pw), [wend] "h"(wend)                                                                \
            : "cc", "memory")

/*
 * ARMv6-M: one channel plane through padded bands (as dw_plane3_padded), any odd kernel width up
 * to 7 and any stride, two outputs at a time. Thumb-1 has eight low registers, a two-operand MULS
 * and LDRSB only with a register offset, so: the band holds x + 128 as uint8 (LDRB with an
 * immediate offset; the -128 and the input offset go into the bias: acc = bias + (in_offset -
 * 128) * sum w + sum w * (x + 128), exact in int32), the channel's weights are int32 on the stack
 * (LDR with an immediate offset), each weight load serves both outputs, the two sums live in high
 * registers, and each kernel row is unrolled (one asm block per width 3, 5, 7).
 */
OFA_DW_NOINLINE OFA_NO_LIBCALLS static void dw_plane_padded_m0(const ofa_conv_params_t *restrict p,
                                               const int8_t *restrict input, int32_t ch, int8_t *restrict dst,
                                               int32_t dst_stride, int32_t pw, int32_t band)
{
    const int32_t in_w = p->in_w, ch_n = p->in_c;
    const int32_t out_h = p->out_h, out_w = p->out_w;
    const int32_t k_h = p->k_h, k_w = p->k_w, taps = k_h * k_w;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w;
    const int32_t pad_top = p->pad_top, pad_left = p->pad_left;
    const int32_t out_off = p->out_offset, lo = p->act_min, hi = p->act_max;
    const int32_t mult = p->out_mult[ch];
    const int shift = p->out_shift[ch];
    const int32_t left = pad_left < pw ? pad_left : pw;
    const int32_t mid = (in_w < pw - left) ? in_w : pw - left;
    const int8_t *const wc = p->weights + ch;
    int32_t wk[OFA_DW_M0_MAX_K * OFA_DW_M0_MAX_K];
    uint32_t pad_words[(OFA_DW_PAD_BYTES + 3) / 4];
    const uint8_t *const pad = (const uint8_t *)pad_words;
    const int32_t *const wend = wk + taps;
    int32_t base = p->bias ? p->bias[ch] : 0;
    int32_t wsum = 0;
    int32_t t, oy, ox, oy0;

    for (t = 0; t < taps; ++t) {
        wk[t] = wc[t * ch_n];
        wsum += wk[t];
    }
    base += (p->in_offset - 128) * wsum;
    for (oy0 = 0; oy0 < out_h; oy0 += band) {
        const int32_t band_h = (out_h - oy0) < band ? (out_h - oy0) : band;
        dw_fill_band(p, input, ch, (int8_t *)pad_words, pw, oy0 * stride_h - pad_top, (band_h - 1) * stride_h + k_h,
                     left, mid, 0, 0x80);
        for (oy = 0; oy < band_h; ++oy) {
            const uint8_t *const row0 = pad + oy * stride_h * pw;
            for (ox = 0; ox < out_w; ox += 2) {
                const uint8_t *qa = row0 + ox * stride_w;
                const uint8_t *qb = ox + 1 < out_w ? qa + stride_w : qa;
                const int32_t *wq = wk;
                int32_t a = base, b = base, w, xa, xb;
                __asm__("" : "+g"(a), "+g"(b)); /* two registers, not one */
                if (stride_w == 1 && k_w == 3) {
                    OFA_DW_M0_WINDOWS1(OFA_DW_M0_T1E("1", "0") OFA_DW_M0_T1O("2", "4") OFA_DW_M0_T1E("3", "8"), "12");
                } else if (stride_w == 1 && k_w == 5) {
                    OFA_DW_M0_WINDOWS1(OFA_DW_M0_T1E("1", "0") OFA_DW_M0_T1O("2", "4") OFA_DW_M0_T1E("3", "8")
                                       OFA_DW_M0_T1O("4", "12") OFA_DW_M0_T1E("5", "16"), "20");
                } else if (stride_w == 1 && k_w == 7) {
                    OFA_DW_M0_WINDOWS1(OFA_DW_M0_T1E("1", "0") OFA_DW_M0_T1O("2", "4") OFA_DW_M0_T1E("3", "8")
                                       OFA_DW_M0_T1O("4", "12") OFA_DW_M0_T1E("5", "16") OFA_DW_M0_T1O("6", "20")
                                       OFA_DW_M0_T1E("7", "24"), "28");
                } else if (k_w == 3) {
                    OFA_DW_M0_WINDOWS(OFA_DW_M0_TAP("0", "0") OFA_DW_M0_TAP("1", "4") OFA_DW_M0_TAP("2", "8"), "12");
                } else if (k_w == 5) {
                    OFA_DW_M0_WINDOWS(OFA_DW_M0_TAP("0", "0") OFA_DW_M0_TAP("1", "4") OFA_DW_M0_TAP("2", "8")
                                      OFA_DW_M0_TAP("3", "12") OFA_DW_M0_TAP("4", "16"), "20");
                } else if (k_w == 7) {
                    OFA_DW_M0_WINDOWS(OFA_DW_M0_TAP("0", "0") OFA_DW_M0_TAP("1", "4") OFA_DW_M0_TAP("2", "8")
                                      OFA_DW_M0_TAP("3", "12") OFA_DW_M0_TAP("4", "16") OFA_DW_M0_TAP("5", "20")
                                      OFA_DW_M0_TAP("6", "24"), "28");
                } else { /* k_w == 1 */
                    OFA_DW_M0_WINDOWS(OFA_DW_M0_TAP("0", "0"), "4");
                }
                (void)w;
                (void)xa;
                (void)xb;
                dst[0] = ofa_output_s8(a, mult, shift, out_off, lo, hi);
                if (ox + 1 < out_w) {
                    dst[dst_stride] = ofa_output_s8(b, mult, shift, out_off, lo, hi);
                    dst += dst_stride;
                }
                dst += dst_stride;
            }
        }
    }
}
#endif

/*
 * One output channel plane of any kernel: dst[pix * dst_stride] for pix in out_h*out_w. Reads only
 * bytes of channel `ch` of the input; border windows skip their out-of-image taps, interior
 * pixels use sum w*(x+off) = sum w*x + off*sum w (exact).
 */
OFA_DW_NOINLINE static void dw_plane_any(const ofa_conv_params_t *restrict p, const int8_t *restrict input, int32_t ch,
                         int8_t *restrict dst, int32_t dst_stride)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, ch_n = p->in_c;
    const int32_t out_h = p->out_h, out_w = p->out_w;
    const int32_t k_h = p->k_h, k_w = p->k_w, taps = k_h * k_w;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w;
    const int32_t pad_top = p->pad_top, pad_left = p->pad_left;
    const int32_t in_off = p->in_offset, out_off = p->out_offset;
    const int32_t lo = p->act_min, hi = p->act_max;
    const int32_t row_stride = in_w * ch_n;
    const int8_t *const wc = p->weights + ch;
    const int32_t bias = p->bias ? p->bias[ch] : 0;
    const int32_t mult = p->out_mult[ch];
    const int shift = p->out_shift[ch];
    const int local = taps <= OFA_DW_LOCAL_TAPS;
    /* output columns whose window lies inside the image horizontally */
    const int32_t ox_first = (pad_left + stride_w - 1) / stride_w;
    const int32_t ox_last = (in_w - k_w + pad_left) >= 0 ? (in_w - k_w + pad_left) / stride_w : -1;
    int16_t wl[OFA_DW_LOCAL_TAPS];
    int32_t wsum = 0;
    int32_t t, oy, ox;


    for (t = 0; t < taps; ++t) {
        const int8_t w = wc[t * ch_n];
        if (local) {
            wl[t] = w;
        }
        wsum += w;
    }
    for (oy = 0; oy < out_h; ++oy) {
        const int32_t iy0 = oy * stride_h - pad_top;
        const int32_t ky_begin = ofa_tap_begin(iy0);
        const int32_t ky_end = ofa_tap_end(iy0, in_h, k_h);
        const int rows_full = local && ky_begin == 0 && ky_end == k_h;
        for (ox = 0; ox < out_w; ++ox) {
            const int32_t ix0 = ox * stride_w - pad_left;
            int32_t acc = bias;
            int32_t ky, kx;
            if (rows_full && ox >= ox_first && ox + 1 <= ox_last) {
                /* two horizontally adjacent windows inside the image: each weight load is used twice */
                const int8_t *xr = input + (iy0 * in_w + ix0) * ch_n + ch;
                const int32_t next = stride_w * ch_n;
                const int16_t *wp = wl;
                int32_t acc1;
                acc += in_off * wsum;
                acc1 = acc;
                for (ky = 0; ky < k_h; ++ky) {
                    const int8_t *xp = xr;
                    for (kx = 0; kx < k_w; ++kx) {
                        const int32_t w = *wp++;
                        acc += w * (int32_t)xp[0];
                        acc1 += w * (int32_t)xp[next];
                        xp += ch_n;
                    }
                    xr += row_stride;
                }
                dst[0] = ofa_output_s8(acc, mult, shift, out_off, lo, hi);
                dst[dst_stride] = ofa_output_s8(acc1, mult, shift, out_off, lo, hi);
                dst += 2 * dst_stride;
                ++ox;
                continue;
            }
            if (rows_full && ox >= ox_first && ox <= ox_last) {
                /* whole window in the image: offset folded, weights from the stack */
                const int8_t *xr = input + (iy0 * in_w + ix0) * ch_n + ch;
                const int16_t *wp = wl;
                acc += in_off * wsum;
                for (ky = 0; ky < k_h; ++ky) {
                    const int8_t *xp = xr;
                    for (kx = k_w; kx >= 2; kx -= 2) {
                        acc += (int32_t)wp[0] * (int32_t)xp[0] + (int32_t)wp[1] * (int32_t)xp[ch_n];
                        wp += 2;
                        xp += 2 * ch_n;
                    }
                    if (kx != 0) {
                        acc += (int32_t)*wp++ * (int32_t)*xp;
                    }
                    xr += row_stride;
                }
            } else {
                const int32_t kx_begin = ofa_tap_begin(ix0);
                const int32_t kx_end = ofa_tap_end(ix0, in_w, k_w);
                const int32_t ntaps_x = kx_end - kx_begin;
                for (ky = ky_begin; ky < ky_end; ++ky) {
                    const int8_t *xr = input + ((iy0 + ky) * in_w + ix0 + kx_begin) * ch_n + ch;
                    const int8_t *wr = wc + (ky * k_w + kx_begin) * ch_n;
                    for (kx = 0; kx < ntaps_x; ++kx) {
                        acc += (int32_t)wr[kx * ch_n] * ((int32_t)xr[kx * ch_n] + in_off);
                    }
                }
            }
            *dst = ofa_output_s8(acc, mult, shift, out_off, lo, hi);
            dst += dst_stride;
        }
    }
}

/* planes of fewer outputs than this go channels-in-lanes: a plane's set-up would dominate */
#define OFA_DW_SMALL_PIX 16
/* in place on DSP cores, strided planes and planes of kernels other than 3x3 up to this many
 * outputs (8x8) go in lanes, four channels' outputs through a stack buffer (dw_lanes4; measured,
 * benchmarks/dw_qemu.py, instructions per output: 8x8 planes 126 -> 98 (5x5), 194 -> 137 (7x7),
 * strided 16x16 -> 8x8 planes 92 -> 61 (3x3), 250 -> 104 (5x5)) */
#define OFA_DW_LANE_PIX 64
/* on DSP cores 3x3 stride-1 planes up to this many outputs (7x7) go in lanes, in place and not
 * (dw_lanes4: 60-62 instructions per output against 67-80 through the padded band; 8x8 planes 61
 * against 50-53) */
#define OFA_DW_LANE3_PIX 49

/*
 * The variant a layer runs (ofa_depthwise_variant_t), from its shape alone. ofa_depthwise_s8 and
 * ofa_depthwise_s8_inplace dispatch on it at run time; the code generator makes the same choice at
 * compile time (ofa_mcu/native/variants.py mirrors this function, tests/test_kernels.py checks
 * that both agree) and calls the variant's entry point, so the linker keeps only the variants a
 * model uses.
 */
int ofa_depthwise_variant(const ofa_conv_params_t *p, int inplace)
{
    const int32_t npix = (int32_t)p->out_h * p->out_w;
    const int strided = p->stride_h != 1 || p->stride_w != 1;
    const int k3s1 = !strided && p->k_h == 3 && p->k_w == 3;
    if (inplace) {
        if (npix < OFA_DW_SMALL_PIX || (OFA_USE_DSP && npix <= (k3s1 ? OFA_DW_LANE3_PIX : OFA_DW_LANE_PIX))) {
            return OFA_DW_VARIANT_LANES;
        }
    } else {
#if OFA_USE_DSP
        /* padded planes pay for their copy at stride 1 on 3x3 planes of more than OFA_DW_LANE3_PIX
         * outputs; lanes otherwise (measured: 5x5/7x7 stride-1 planes ran slower through the padded
         * band than in lanes out of place, 6.26 against 5.05 instructions per MAC on an mcu-32 subnet) */
        if (!k3s1 || npix <= OFA_DW_LANE3_PIX || (dw_band_rows(p) == 0 && dw_band_rows_k(p) == 0)) {
            return OFA_DW_VARIANT_LANES;
        }
#else
        if (npix < OFA_DW_SMALL_PIX) {
            return OFA_DW_VARIANT_LANES;
        }
#endif
    }
    /* channel planes: bias, multiplier, shift and the weights of a channel stay in registers */
    if (dw_band_rows(p) > 0) {
        return OFA_DW_VARIANT_PLANE3;
    }
#if OFA_USE_DSP
    if (dw_band_rows_k(p) > 0) {
        return OFA_DW_VARIANT_PLANE_K;
    }
#endif
    return OFA_DW_VARIANT_PLANE_ANY;
}

/* the plane kernels with one signature: one output channel plane, dst[pix * dst_stride] */
typedef void (*dw_plane_fn)(const ofa_conv_params_t *restrict p, const int8_t *restrict input, int32_t ch,
                            int8_t *restrict dst, int32_t dst_stride);

/*
 * A plane taller than wide goes through the band transposed (its columns as the band's rows, the
 * kernel transposed): the loops run along the longer side, so fewer of the outputs take the
 * one- and two-output tails (kws01's 25 x 5 planes: 61 -> 41 instructions per output).
 */
static void dw_plane3(const ofa_conv_params_t *restrict p, const int8_t *restrict input, int32_t ch,
                      int8_t *restrict dst, int32_t dst_stride)
{
#if !defined(OFA_M0_ASM) /* ARMv6-M runs these planes through dw_plane_padded_m0: no code for a fallback */
    const int32_t pw_t = (p->out_h - 1) * p->stride_h + 3; /* a row of the transposed band */
    const int32_t rows_t = OFA_DW_PAD_BYTES / pw_t;
    if (p->out_h > p->out_w && rows_t >= 3) {
        dw_plane3_padded(p, input, ch, dst, dst_stride, pw_t, (rows_t - 3) / p->stride_w + 1, 1);
        return;
    }
#endif
    dw_plane3_padded(p, input, ch, dst, dst_stride, (p->out_w - 1) * p->stride_w + 3, dw_band_rows(p), 0);
}

#if OFA_USE_DSP
static void dw_plane_k(const ofa_conv_params_t *restrict p, const int8_t *restrict input, int32_t ch,
                       int8_t *restrict dst, int32_t dst_stride)
{
    dw_plane_padded_dsp(p, input, ch, dst, dst_stride, (p->out_w - 1) * p->stride_w + p->k_w, dw_band_rows_k(p));
}
#endif

/* every channel plane of the layer straight into the output */
OFA_INLINE void dw_planes(const ofa_conv_params_t *restrict p, const int8_t *restrict input, int8_t *restrict output,
                          dw_plane_fn plane)
{
    int32_t ch;
    for (ch = 0; ch < p->in_c; ++ch) {
        plane(p, input, ch, output + ch, p->in_c);
    }
}

/* in place: each channel plane into the scratch, then over that channel's bytes of buf */
OFA_INLINE void dw_planes_inplace(const ofa_conv_params_t *p, int8_t *buf, int8_t *scratch, dw_plane_fn plane)
{
    const int32_t npix = (int32_t)p->out_h * p->out_w;
    const int32_t ch_n = p->in_c;
    int32_t ch, pix;
    for (ch = 0; ch < ch_n; ++ch) {
        int8_t *dst = buf + ch;
        plane(p, buf, ch, scratch, 1);
        for (pix = 0; pix < npix; ++pix) {
            *dst = scratch[pix];
            dst += ch_n;
        }
    }
}

/* in place, four channels at a time in lanes through a stack buffer, written back once all are computed */
OFA_DW_NOINLINE static void dw_inplace_lanes(const ofa_conv_params_t *p, int8_t *buf, int32_t npix)
{
    const int32_t ch_n = p->in_c;
    int8_t tmp[4 * OFA_DW_LANE_PIX];
    int32_t ch = 0, pix, j;
#if OFA_USE_DSP
    ch = dw_lanes4(p, buf, buf, tmp);
#endif
    for (; ch < ch_n; ch += 4) {
        const int32_t n = (ch_n - ch) < 4 ? (ch_n - ch) : 4;
        dw_lanes(p, buf, ch, ch + n, tmp, n);
        for (pix = 0; pix < npix; ++pix) {
            for (j = 0; j < n; ++j) {
                buf[pix * ch_n + ch + j] = tmp[pix * n + j];
            }
        }
    }
}

#if defined(OFA_M0_ASM)
/*
 * ARMv6-M: the plane3 and plane_any variants' planes through dw_plane_padded_m0 where its band
 * applies (odd kernel widths up to 7; same results, the variant a layer takes is unchanged),
 * straight into the output (scratch NULL) or, in place, each plane into the scratch and back.
 * Returns 0 when the band does not apply.
 */
static int dw_planes_m0(const ofa_conv_params_t *restrict p, const int8_t *input, int8_t *output, int8_t *scratch)
{
    const int32_t band = dw_band_rows_m0(p);
    const int32_t pw = (p->out_w - 1) * p->stride_w + p->k_w;
    const int32_t npix = (int32_t)p->out_h * p->out_w;
    const int32_t ch_n = p->in_c;
    int32_t ch, pix;
    if (band == 0) {
        return 0;
    }
    for (ch = 0; ch < ch_n; ++ch) {
        if (scratch) {
            int8_t *dst = output + ch;
            dw_plane_padded_m0(p, input, ch, scratch, 1, pw, band);
            for (pix = 0; pix < npix; ++pix) {
                *dst = scratch[pix];
                dst += ch_n;
            }
        } else {
            dw_plane_padded_m0(p, input, ch, output + ch, ch_n, pw, band);
        }
    }
    return 1;
}
#else
#define dw_planes_m0(p, input, output, scratch) 0
#endif

/* ---- the variants' entry points (ofa_kernels.h) ---- */

#ifndef OFA_DW_M0_PLANE_MIN
#define OFA_DW_M0_PLANE_MIN 8
#endif
void ofa_depthwise_s8_lanes(const ofa_conv_params_t *p, const int8_t *input, int8_t *output)
{
#if defined(OFA_M0_ASM)
    /* ARMv6-M: planes of OFA_DW_M0_PLANE_MIN outputs or more (one output row of a fused expand +
     * depthwise, small planes) through the padded band too: faster than lanes in C there */
    if ((int32_t)p->out_h * p->out_w >= OFA_DW_M0_PLANE_MIN && dw_planes_m0(p, input, output, 0)) {
        return;
    }
#endif
    dw_lanes_all(p, input, output);
}

void ofa_depthwise_s8_plane3(const ofa_conv_params_t *p, const int8_t *input, int8_t *output)
{
    if (dw_planes_m0(p, input, output, 0)) {
        return;
    }
    dw_planes(p, input, output, dw_plane3);
}

#if OFA_USE_DSP
void ofa_depthwise_s8_plane_k(const ofa_conv_params_t *p, const int8_t *input, int8_t *output)
{
    dw_planes(p, input, output, dw_plane_k);
}
#endif

void ofa_depthwise_s8_plane_any(const ofa_conv_params_t *p, const int8_t *input, int8_t *output)
{
    if (dw_planes_m0(p, input, output, 0)) {
        return;
    }
    dw_planes(p, input, output, dw_plane_any);
}

void ofa_depthwise_s8_inplace_lanes(const ofa_conv_params_t *p, int8_t *buf, int8_t *scratch)
{
    (void)scratch;
    dw_inplace_lanes(p, buf, (int32_t)p->out_h * p->out_w);
}

void ofa_depthwise_s8_inplace_plane3(const ofa_conv_params_t *p, int8_t *buf, int8_t *scratch)
{
    if (dw_planes_m0(p, buf, buf, scratch)) {
        return;
    }
    dw_planes_inplace(p, buf, scratch, dw_plane3);
}

#if OFA_USE_DSP
void ofa_depthwise_s8_inplace_plane_k(const ofa_conv_params_t *p, int8_t *buf, int8_t *scratch)
{
    dw_planes_inplace(p, buf, scratch, dw_plane_k);
}
#endif

void ofa_depthwise_s8_inplace_plane_any(const ofa_conv_params_t *p, int8_t *buf, int8_t *scratch)
{
    if (dw_planes_m0(p, buf, buf, scratch)) {
        return;
    }
    dw_planes_inplace(p, buf, scratch, dw_plane_any);
}

/* lanes and plane_any without the ARMv6-M padded-band path (dw_planes_m0): any layer, slower on M0 and
 * about 1.8 KB less code there (the code generator's compact choice); on other cores the same loops as
 * ofa_depthwise_s8_lanes / _plane_any */
void ofa_depthwise_s8_lanes_plain(const ofa_conv_params_t *p, const int8_t *input, int8_t *output)
{
    dw_lanes_all(p, input, output);
}

void ofa_depthwise_s8_plane_any_plain(const ofa_conv_params_t *p, const int8_t *input, int8_t *output)
{
    dw_planes(p, input, output, dw_plane_any);
}

void ofa_depthwise_s8_inplace_plane_any_plain(const ofa_conv_params_t *p, int8_t *buf, int8_t *scratch)
{
    dw_planes_inplace(p, buf, scratch, dw_plane_any);
}

/* ---- run-time dispatch (library and foreign callers; generated models call the variants) ---- */

void ofa_depthwise_s8(const ofa_conv_params_t *p, const int8_t *input, int8_t *output)
{
    switch (ofa_depthwise_variant(p, 0)) {
    case OFA_DW_VARIANT_LANES:
        ofa_depthwise_s8_lanes(p, input, output);
        break;
    case OFA_DW_VARIANT_PLANE3:
        ofa_depthwise_s8_plane3(p, input, output);
        break;
#if OFA_USE_DSP
    case OFA_DW_VARIANT_PLANE_K:
        ofa_depthwise_s8_plane_k(p, input, output);
        break;
#endif
    default:
        ofa_depthwise_s8_plane_any(p, input, output);
        break;
    }
}

void ofa_depthwise_s8_inplace(const ofa_conv_params_t *p, int8_t *buf, int8_t *scratch)
{
    switch (ofa_depthwise_variant(p, 1)) {
    case OFA_DW_VARIANT_LANES:
        ofa_depthwise_s8_inplace_lanes(p, buf, scratch);
        break;
    case OFA_DW_VARIANT_PLANE3:
        ofa_depthwise_s8_inplace_plane3(p, buf, scratch);
        break;
#if OFA_USE_DSP
    case OFA_DW_VARIANT_PLANE_K:
        ofa_depthwise_s8_inplace_plane_k(p, buf, scratch);
        break;
#endif
    default:
        ofa_depthwise_s8_inplace_plane_any(p, buf, scratch);
        break;
    }
}
