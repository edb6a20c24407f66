/*
 * ofa_kernels.h - public API of the ofa-mcu native int8 kernels.
 *
 * Plain C99, no malloc, no global state. Every kernel reproduces the TFLM
 * reference kernel of the same op bit for bit (see ofa_requant.h).
 *
 * Conventions
 *  - Activations are int8 NHWC with batch 1, dense (no row padding).
 *  - A kernel is called with a pointer to a const parameter struct (meant to
 *    live in flash next to the weights) and pointers into the arena, so a
 *    generated model is one line per op:
 *        ofa_conv_s8(&op3, arena + 0, arena + 12288);
 *  - Offsets follow TFLM: in_offset = -input_zero_point,
 *    out_offset = output_zero_point. act_min / act_max is the quantized fused
 *    activation range (NONE: -128..127; RELU/RELU6 as TFLM computes it).
 *  - (out_mult[c], out_shift[c]) are TFLM's per-channel QuantizeMultiplier
 *    results (shift > 0 is a left shift).
 *  - Input and output buffers must not overlap, except for
 *    ofa_depthwise_s8_inplace, whose contract is documented below.
 *  - ofa_expand_depthwise_s8 runs two layers in one call (see below).
 *  - Weights: conv [out_c][k_h][k_w][in_c]; depthwise [k_h][k_w][c] (the
 *    TFLite [1][k_h][k_w][c] filter); fully connected [out][in].
 *  - Padding: explicit pad_top / pad_left (TFLite SAME puts the odd extra
 *    row/column at the bottom/right); taps outside the image are skipped,
 *    which is exactly TFLM's behaviour (they contribute nothing).
 */
#ifndef OFA_KERNELS_H
#define OFA_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * 1 when the kernels are built with their Cortex-M DSP-extension loops (SMLAD & co.): on by default
 * where the core has them (M4, M7, M33 with DSP), off with -DOFA_NO_DSP; -DOFA_EMULATE_DSP turns
 * them on anywhere with plain-C emulations of the instructions (host tests). Some layers run a
 * different kernel variant with and without them, so generated code tests this too.
 */
#if defined(OFA_EMULATE_DSP) || (defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32) && !defined(OFA_NO_DSP))
#define OFA_KERNELS_DSP 1
#else
#define OFA_KERNELS_DSP 0
#endif

/*
 * The assembly blocks of the kernels hold up to fourteen registers, which gcc cannot allocate
 * without optimization ("impossible constraints"): unoptimized builds (-O0, a debug build) take the
 * C form of every loop instead, with the same integers as results. -DOFA_NO_ASM does it at any level.
 */
#if defined(__GNUC__) && !defined(__OPTIMIZE__) && !defined(OFA_NO_ASM)
#define OFA_NO_ASM 1
#endif

/* Pixels ofa_pointwise_s8_inplace computes into its scratch at a time
 * (INPLACE_POINTWISE_PIXELS in ofa_mcu/planner/native.py). */
#define OFA_PW_INPLACE_PIXELS 8

/* Left shift TFLM's int8 ADD applies to both inputs before rescaling. */
#define OFA_ADD_LEFT_SHIFT 20

/* Conv 2D, pointwise (1x1) conv and depthwise conv (depth multiplier 1). */
typedef struct {
    uint16_t in_h, in_w, in_c;
    uint16_t out_h, out_w, out_c;
    uint8_t k_h, k_w;
    uint8_t stride_h, stride_w;
    uint8_t pad_top, pad_left;
    int32_t in_offset;        /* -input zero point */
    int32_t out_offset;       /* output zero point */
    int32_t act_min, act_max; /* quantized activation range */
    const int8_t *weights;
    const int32_t *bias;      /* [out_c], or NULL */
    const int32_t *out_mult;  /* [out_c] */
    const int8_t *out_shift;  /* [out_c] */
} ofa_conv_params_t;

/* Fully connected: out[b][o] = W[o][:] . (in[b][:] + in_offset) + bias[o]. */
typedef struct {
    int32_t batches, in_features, out_features;
    int32_t in_offset;        /* -input zero point */
    int32_t out_offset;       /* output zero point */
    int32_t act_min, act_max;
    int32_t per_channel;      /* 0: out_mult[0]/out_shift[0] for all outputs */
    const int8_t *weights;    /* [out_features][in_features], zero point 0 */
    const int32_t *bias;      /* [out_features], or NULL */
    const int32_t *out_mult;
    const int8_t *out_shift;
} ofa_fc_params_t;

/* Element-wise ADD of two int8 tensors of the same shape (TFLM semantics). */
typedef struct {
    int32_t size;                        /* number of elements */
    int32_t in1_offset, in2_offset;      /* -zero points */
    int32_t out_offset;                  /* output zero point */
    int32_t in1_mult, in2_mult, out_mult;
    int8_t in1_shift, in2_shift, out_shift;
    int32_t act_min, act_max;
} ofa_add_params_t;

/*
 * MEAN over H and W (global average pooling as TFLite converts it).
 * mult/shift are TFLM's input_scale/output_scale multiplier already folded
 * with 1/(h*w) the way TFLM folds it at run time (mean_multiplier() in
 * ofa_mcu/native/tflite_graph.py). Output is [c] (or [1][1][c]: same bytes).
 */
typedef struct {
    uint16_t h, w, c;
    int32_t in_zero_point, out_zero_point;
    int32_t mult;
    int8_t shift;
} ofa_mean_params_t;

/* AVERAGE_POOL_2D: input and output share scale and zero point. */
typedef struct {
    uint16_t in_h, in_w, c;
    uint16_t out_h, out_w;
    uint8_t k_h, k_w;
    uint8_t stride_h, stride_w;
    uint8_t pad_top, pad_left;
    int32_t act_min, act_max;
} ofa_avgpool_params_t;

/* MAX_POOL_2D: input and output share scale and zero point. */
typedef ofa_avgpool_params_t ofa_pool_params_t;

/* PAD / PADV2 of a tensor of up to 4 dimensions (missing leading dimensions are 1). */
typedef struct {
    int32_t in_dims[4], out_dims[4];
    int32_t before[4];        /* elements added before each dimension */
    int32_t pad_value;        /* output zero point (PAD) or the constant (PADV2) */
} ofa_pad_params_t;

/* CONCATENATION of inputs sharing the output's quantization, viewed as [outer][inner]. */
typedef struct {
    int32_t n_inputs;
    int32_t outer;            /* product of the dimensions before the axis */
    int32_t out_row_bytes;    /* sum of in_bytes */
    const int32_t *in_offsets; /* [n_inputs] byte offsets of the inputs in the arena */
    const int32_t *in_bytes;   /* [n_inputs] bytes of one input row (dims from the axis on) */
} ofa_concat_params_t;

/*
 * SOFTMAX over the last dimension (depth) of `outer` rows, int8 in, int8 out with scale 1/256 and
 * zero point -128 (TFLM's int8 softmax). input_multiplier / input_left_shift scale beta * the
 * input scale into Q5.26; inputs below the row maximum + diff_min give -128 (softmax_params() in
 * ofa_mcu/native/requant.py). depth <= 4095 keeps the sum of exponentials in int32.
 */
typedef struct {
    int32_t outer, depth;
    int32_t input_multiplier;
    int32_t input_left_shift;
    int32_t diff_min;
} ofa_softmax_params_t;

/*
 * Kernel variants. The run-time entry points (ofa_conv_s8, ofa_conv_add_s8, ofa_depthwise_s8,
 * ofa_depthwise_s8_inplace, ofa_expand_depthwise_s8) choose a variant from the layer's shape
 * (ofa_conv_variant, ofa_depthwise_variant) and call it; each variant is also an entry point of
 * its own, with the same arguments and results, so that generated code, which knows every shape,
 * calls exactly the variants a model needs and the linker (--gc-sections) drops the others.
 * ofa_mcu/native/variants.py makes the same choice in Python. A variant may be called for any layer
 * it can run: the row loop, depthwise lanes (out of place) and plane_any for any shape; the patch
 * loop for windows (k_h * k_w * in_c) of up to 128 bytes (64 with the DSP loops); plane3 for 3x3 kernels and plane_k for
 * kernels up to 8x8 whose padded band of 256 bytes holds k_h rows of (out_w - 1) * stride_w + k_w;
 * in place, lanes for planes of up to OFA_DW_LANE_PIX outputs (depthwise.c; its stack buffer).
 */
typedef enum {
    OFA_CONV_VARIANT_PATCH = 0, /* few input channels (the first conv): a pixel's window gathered once */
    OFA_CONV_VARIANT_ROWS = 1   /* otherwise: one dot product per kernel row */
} ofa_conv_variant_t;

typedef enum {
    OFA_DW_VARIANT_LANES = 0,    /* channels in lanes, one output pixel at a time */
    OFA_DW_VARIANT_PLANE3 = 1,   /* 3x3 channel planes through a padded band */
    OFA_DW_VARIANT_PLANE_K = 2,  /* DSP cores: channel planes of kernels up to 8x8 through a padded band */
    OFA_DW_VARIANT_PLANE_ANY = 3 /* channel planes, border taps skipped */
} ofa_depthwise_variant_t;

typedef enum {
    OFA_PW_VARIANT_ANY = 0,  /* ofa_pointwise_s8 */
    OFA_PW_VARIANT_PAIRS = 1 /* DSP cores: every channel pair through the assembly pair path */
} ofa_pointwise_variant_t;

/* A conv-like kernel of the (params, input, output) form: a pointwise or depthwise entry point. */
typedef void (*ofa_conv_fn)(const ofa_conv_params_t *p, const int8_t *input, int8_t *output);

/* The variant ofa_pointwise_s8 runs for a layer, from its shape and shifts (an ofa_pointwise_variant_t). */
int ofa_pointwise_variant(const ofa_conv_params_t *p);

/* The variant ofa_conv_s8 / ofa_conv_add_s8 run for a layer (an ofa_conv_variant_t). */
int ofa_conv_variant(const ofa_conv_params_t *p);

/* The variant ofa_depthwise_s8 (inplace 0) or ofa_depthwise_s8_inplace (1) runs (an ofa_depthwise_variant_t). */
int ofa_depthwise_variant(const ofa_conv_params_t *p, int inplace);

/* Any kernel size, stride and padding. */
void ofa_conv_s8(const ofa_conv_params_t *p, const int8_t *input, int8_t *output);
void ofa_conv_s8_patch(const ofa_conv_params_t *p, const int8_t *input, int8_t *output);
void ofa_conv_s8_rows(const ofa_conv_params_t *p, const int8_t *input, int8_t *output);

/* 1x1 conv, stride 1, no padding (out_h == in_h, out_w == in_w). */
void ofa_pointwise_s8(const ofa_conv_params_t *p, const int8_t *input, int8_t *output);
#if OFA_KERNELS_DSP
/* DSP cores, layers of an even out_c, in_c a multiple of 4 and only right shifts (see ofa_pointwise_variant) */
void ofa_pointwise_s8_pairs(const ofa_conv_params_t *p, const int8_t *input, int8_t *output);
/* DSP cores, any layer, without the assembly pair path: about 1 KB less code, slower (the compact choice) */
void ofa_pointwise_s8_plain(const ofa_conv_params_t *p, const int8_t *input, int8_t *output);
#endif

/*
 * In-place 1x1 conv (stride 1, out_c == in_c): the output overwrites the input `buf`;
 * `scratch` holds min(out_h * out_w, OFA_PW_INPLACE_PIXELS) * out_c bytes, not overlapping buf.
 */
void ofa_pointwise_s8_inplace(const ofa_conv_params_t *p, int8_t *buf, int8_t *scratch);
#if OFA_KERNELS_DSP
void ofa_pointwise_s8_inplace_pairs(const ofa_conv_params_t *p, int8_t *buf, int8_t *scratch);
void ofa_pointwise_s8_inplace_plain(const ofa_conv_params_t *p, int8_t *buf, int8_t *scratch);
#endif

/*
 * A conv (any kernel, stride, padding) whose result feeds only the ADD after it: each result r
 * is added into the ADD's other input in place, inout[i] = ADD(r, inout[i]), with `add`'s input 1
 * the conv side. Same values as ofa_conv_s8 then ofa_add_s8. inout must not overlap input.
 */
void ofa_conv_add_s8(const ofa_conv_params_t *conv, const ofa_add_params_t *add, const int8_t *input,
                     int8_t *inout);
void ofa_conv_add_s8_patch(const ofa_conv_params_t *conv, const ofa_add_params_t *add, const int8_t *input,
                           int8_t *inout);
void ofa_conv_add_s8_rows(const ofa_conv_params_t *conv, const ofa_add_params_t *add, const int8_t *input,
                          int8_t *inout);

/* Depthwise conv, depth multiplier 1 (in_c == out_c). */
void ofa_depthwise_s8(const ofa_conv_params_t *p, const int8_t *input, int8_t *output);
void ofa_depthwise_s8_lanes(const ofa_conv_params_t *p, const int8_t *input, int8_t *output);
void ofa_depthwise_s8_plane3(const ofa_conv_params_t *p, const int8_t *input, int8_t *output);
#if OFA_KERNELS_DSP
void ofa_depthwise_s8_plane_k(const ofa_conv_params_t *p, const int8_t *input, int8_t *output);
#endif
void ofa_depthwise_s8_plane_any(const ofa_conv_params_t *p, const int8_t *input, int8_t *output);
/* lanes / plane_any without the ARMv6-M padded-band path: any layer, about 1.8 KB less code on M0,
 * slower there (the compact choice); elsewhere the same loops as _lanes / _plane_any */
void ofa_depthwise_s8_lanes_plain(const ofa_conv_params_t *p, const int8_t *input, int8_t *output);
void ofa_depthwise_s8_plane_any_plain(const ofa_conv_params_t *p, const int8_t *input, int8_t *output);

/*
 * In-place depthwise conv: the output overwrites the input.
 *
 * Layout contract: `buf` holds the NHWC input [in_h][in_w][c]; on return its
 * first out_h*out_w*c bytes hold the NHWC output [out_h][out_w][c], the same
 * values ofa_depthwise_s8 would write, and the remaining
 * (in_h*in_w - out_h*out_w)*c bytes are garbage. Requires in_c == out_c and
 * out_h*out_w <= in_h*in_w (always true for stride >= 1 with SAME or VALID).
 * `scratch` holds out_h*out_w bytes and must not overlap `buf`.
 *
 * Why it works: with the same channel count c in both tensors, byte offset
 * o belongs to channel (o mod c) in the input AND in the output. Output
 * channel k depends only on input channel k, so the kernel computes the whole
 * output plane of channel k into `scratch` and then writes it to offsets
 * pix*c + k, which in the input held only channel k, already consumed.
 * Other channels are never touched.
 */
void ofa_depthwise_s8_inplace(const ofa_conv_params_t *p, int8_t *buf, int8_t *scratch);
void ofa_depthwise_s8_inplace_lanes(const ofa_conv_params_t *p, int8_t *buf, int8_t *scratch);
void ofa_depthwise_s8_inplace_plane3(const ofa_conv_params_t *p, int8_t *buf, int8_t *scratch);
#if OFA_KERNELS_DSP
void ofa_depthwise_s8_inplace_plane_k(const ofa_conv_params_t *p, int8_t *buf, int8_t *scratch);
#endif
void ofa_depthwise_s8_inplace_plane_any(const ofa_conv_params_t *p, int8_t *buf, int8_t *scratch);
void ofa_depthwise_s8_inplace_plane_any_plain(const ofa_conv_params_t *p, int8_t *buf, int8_t *scratch);

/*
 * A 1x1 expand conv (`expand`, stride 1) fused with the depthwise conv `dw` that reads its output:
 * the expanded tensor is only ever held as a window of min(dw->k_h, dw->in_h) rows of
 * dw->in_w * dw->in_c bytes (`window`, which must not overlap `input` or `output`). Same results
 * as ofa_pointwise_s8(expand) followed by ofa_depthwise_s8(dw).
 */
void ofa_expand_depthwise_s8(const ofa_conv_params_t *expand, const ofa_conv_params_t *dw,
                             const int8_t *input, int8_t *window, int8_t *output);

/*
 * ofa_expand_depthwise_s8 with the expanded rows computed by `pw_kernel` (ofa_pointwise_s8 or the
 * variant it would choose for `expand`) and the depthwise rows by `dw_kernel` (ofa_depthwise_s8 or
 * the variant it would choose for one output row of `dw`: out_h 1; the choice does not depend on
 * the window's height or padding).
 */
void ofa_expand_depthwise_s8_with(const ofa_conv_params_t *expand, const ofa_conv_params_t *dw, ofa_conv_fn pw_kernel,
                                  ofa_conv_fn dw_kernel, const int8_t *input, int8_t *window, int8_t *output);

void ofa_fully_connected_s8(const ofa_fc_params_t *p, const int8_t *input, int8_t *output);
/* out_features a multiple of 4 only (DSP builds: 4 or more, the last pass over the last four rows): no
 * code for 1-3 rows left after the 4-row passes */
void ofa_fully_connected_s8_x4(const ofa_fc_params_t *p, const int8_t *input, int8_t *output);
/* rows two and one at a time only (any out_features; what runs anyway below 4 outputs) */
void ofa_fully_connected_s8_x2(const ofa_fc_params_t *p, const int8_t *input, int8_t *output);

/* output may alias input1 or input2 exactly (element-wise, same index). */
void ofa_add_s8(const ofa_add_params_t *p, const int8_t *input1, const int8_t *input2,
                int8_t *output);

void ofa_mean_hw_s8(const ofa_mean_params_t *p, const int8_t *input, int8_t *output);

void ofa_avgpool_s8(const ofa_avgpool_params_t *p, const int8_t *input, int8_t *output);

void ofa_maxpool_s8(const ofa_pool_params_t *p, const int8_t *input, int8_t *output);

void ofa_pad_s8(const ofa_pad_params_t *p, const int8_t *input, int8_t *output);

/* `arena`: the base the inputs' in_offsets are relative to; output must not overlap an input. */
void ofa_concat_s8(const ofa_concat_params_t *p, const int8_t *arena, int8_t *output);

/* input and output must not overlap. */
void ofa_softmax_s8(const ofa_softmax_params_t *p, const int8_t *input, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* OFA_KERNELS_H */
