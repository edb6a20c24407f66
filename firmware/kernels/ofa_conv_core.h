/*
 * ofa_conv_core.h - the int8 CONV_2D loop (internal, shared by conv.c and the
 * conv + ADD kernel): NHWC, per-channel requantization (TFLM reference
 * arithmetic: acc = sum w * (x + in_offset) over in-image taps, + bias,
 * MultiplyByQuantizedMultiplier, + out_offset, clamp).
 *
 * Two loops, both blocked 2 output pixels x 2 output channels (each weight
 * word and each input word loaded serves two products; SMLAD on DSP cores):
 *
 *  - patch loop, for few input channels (the first conv of a network: 1 or 3
 *    channels, where a kernel row is only a few bytes): the k_h x k_w x in_c
 *    window of a pixel is gathered once into a contiguous patch on the stack,
 *    in the weights' [k_h][k_w][in_c] order, out-of-image taps and the tail up
 *    to a multiple of 4 filled with the input zero point. A zero-point tap
 *    contributes w * (zp + in_offset) = 0, exactly what TFLM's skipped tap
 *    contributes, so every output is one dot product over the whole patch,
 *    reused by every output channel;
 *  - row loop, otherwise: for one output pixel the in-image taps of one
 *    kernel row form a single contiguous run of (kx_end - kx_begin) * in_c
 *    bytes, both in the NHWC input and in the [out_c][k_h][k_w][in_c]
 *    weights, so each row is one dot product. Two horizontally adjacent
 *    pixels whose windows lie inside the image horizontally share the weight
 *    loads.
 *
 * The loops are in conv.c (ofa_conv_any_s8, one copy for ofa_conv_s8 and ofa_conv_add_s8).
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

/*
 * CONV_2D; with `add` (not NULL) each result r is not stored but added into the output,
 * out[i] = ADD(r, out[i]) (r is the ADD's input 1).
 */
void ofa_conv_any_s8(const ofa_conv_params_t *p, const int8_t *input, int8_t *output,
                     const ofa_add_params_t *add);

#endif /* OFA_CONV_CORE_H */
