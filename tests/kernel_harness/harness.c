/*
 * harness.c - flat-argument entry points around the native kernels, for the
 * host tests (tests/test_kernels.py loads this, built with the kernels into
 * a shared library, through ctypes). Scalar parameters come in one int32
 * array in a fixed order (see the H_* index lists below and the Python side)
 * so the tests never depend on the C struct layout.
 */
#include <stdint.h>
#include "ofa_add.h"
#include "ofa_kernels.h"
#include "ofa_requant.h"

/* conv-like: in_h in_w in_c out_h out_w out_c k_h k_w stride_h stride_w
 *            pad_top pad_left in_offset out_offset act_min act_max */
static void fill_conv(ofa_conv_params_t *p, const int32_t *ip, const int8_t *w, const int32_t *bias,
                      const int32_t *mult, const int8_t *shift)
{
    p->in_h = (uint16_t)ip[0];
    p->in_w = (uint16_t)ip[1];
    p->in_c = (uint16_t)ip[2];
    p->out_h = (uint16_t)ip[3];
    p->out_w = (uint16_t)ip[4];
    p->out_c = (uint16_t)ip[5];
    p->k_h = (uint8_t)ip[6];
    p->k_w = (uint8_t)ip[7];
    p->stride_h = (uint8_t)ip[8];
    p->stride_w = (uint8_t)ip[9];
    p->pad_top = (uint8_t)ip[10];
    p->pad_left = (uint8_t)ip[11];
    p->in_offset = ip[12];
    p->out_offset = ip[13];
    p->act_min = ip[14];
    p->act_max = ip[15];
    p->weights = w;
    p->bias = bias;
    p->out_mult = mult;
    p->out_shift = shift;
}

/* kind: 0 conv, 1 pointwise, 2 depthwise, 3 depthwise in place (out holds
 * the input on entry and must be in_h*in_w*in_c bytes). */
int h_conv(int kind, const int32_t *ip, const int8_t *w, const int32_t *bias, const int32_t *mult,
           const int8_t *shift, const int8_t *in, int8_t *out, int8_t *scratch)
{
    ofa_conv_params_t p;
    fill_conv(&p, ip, w, bias, mult, shift);
    switch (kind) {
    case 0:
        ofa_conv_s8(&p, in, out);
        return 0;
    case 1:
        ofa_pointwise_s8(&p, in, out);
        return 0;
    case 2:
        ofa_depthwise_s8(&p, in, out);
        return 0;
    case 3:
        ofa_depthwise_s8_inplace(&p, out, scratch);
        return 0;
    default:
        return -1;
    }
}

/* which: 0 ofa_conv_variant, 1 ofa_depthwise_variant out of place, 2 in place (weights not read) */
int h_variant(int which, const int32_t *ip)
{
    ofa_conv_params_t p;
    fill_conv(&p, ip, 0, 0, 0, 0);
    return which == 0 ? ofa_conv_variant(&p) : ofa_depthwise_variant(&p, which == 2);
}

/* the depthwise variant's entry point (an ofa_depthwise_variant_t), NULL when this build lacks it */
/* the compact choice's depthwise entry points (no ARMv6-M band path), after the ofa_depthwise_variant_t values */
#define H_DW_PLANE_ANY_PLAIN 4
#define H_DW_LANES_PLAIN 5

static ofa_conv_fn dw_entry(int variant)
{
    switch (variant) {
    case OFA_DW_VARIANT_LANES:
        return ofa_depthwise_s8_lanes;
    case OFA_DW_VARIANT_PLANE3:
        return ofa_depthwise_s8_plane3;
#if OFA_KERNELS_DSP
    case OFA_DW_VARIANT_PLANE_K:
        return ofa_depthwise_s8_plane_k;
#endif
    case OFA_DW_VARIANT_PLANE_ANY:
        return ofa_depthwise_s8_plane_any;
    case H_DW_PLANE_ANY_PLAIN:
        return ofa_depthwise_s8_plane_any_plain;
    case H_DW_LANES_PLAIN:
        return ofa_depthwise_s8_lanes_plain;
    default:
        return 0;
    }
}

/* One variant's own entry point: kind 0 conv (variant: an ofa_conv_variant_t), 2 depthwise, 3 depthwise
 * in place (an ofa_depthwise_variant_t; out holds the input on entry). -1: no such variant here. */
int h_conv_entry(int kind, int variant, const int32_t *ip, const int8_t *w, const int32_t *bias,
                 const int32_t *mult, const int8_t *shift, const int8_t *in, int8_t *out, int8_t *scratch)
{
    ofa_conv_params_t p;
    fill_conv(&p, ip, w, bias, mult, shift);
    if (kind == 0) {
        if (variant == OFA_CONV_VARIANT_PATCH) {
            ofa_conv_s8_patch(&p, in, out);
        } else {
            ofa_conv_s8_rows(&p, in, out);
        }
        return 0;
    }
    if (kind == 2) {
        const ofa_conv_fn fn = dw_entry(variant);
        if (!fn) {
            return -1;
        }
        fn(&p, in, out);
        return 0;
    }
    switch (variant) {
    case OFA_DW_VARIANT_LANES:
        ofa_depthwise_s8_inplace_lanes(&p, out, scratch);
        return 0;
    case OFA_DW_VARIANT_PLANE3:
        ofa_depthwise_s8_inplace_plane3(&p, out, scratch);
        return 0;
#if OFA_KERNELS_DSP
    case OFA_DW_VARIANT_PLANE_K:
        ofa_depthwise_s8_inplace_plane_k(&p, out, scratch);
        return 0;
#endif
    case OFA_DW_VARIANT_PLANE_ANY:
        ofa_depthwise_s8_inplace_plane_any(&p, out, scratch);
        return 0;
    case H_DW_PLANE_ANY_PLAIN:
        ofa_depthwise_s8_inplace_plane_any_plain(&p, out, scratch);
        return 0;
    default:
        return -1;
    }
}

/* the C loop without the pair path (ofa_pointwise_s8_plain, DSP builds): the code generator's compact choice */
#define H_PW_PLAIN 2

/* the pointwise variant's entry point (an ofa_pointwise_variant_t, or H_PW_PLAIN), NULL when this build lacks it */
static ofa_conv_fn pw_entry(int variant)
{
#if OFA_KERNELS_DSP
    if (variant == OFA_PW_VARIANT_PAIRS) {
        return ofa_pointwise_s8_pairs;
    }
    if (variant == H_PW_PLAIN) {
        return ofa_pointwise_s8_plain;
    }
#endif
    return variant == OFA_PW_VARIANT_ANY ? ofa_pointwise_s8 : 0;
}

/* ofa_pointwise_variant of a 1x1 conv (weights not read) */
int h_pw_variant(const int32_t *ip, const int8_t *shift)
{
    ofa_conv_params_t p;
    fill_conv(&p, ip, 0, 0, 0, shift);
    return ofa_pointwise_variant(&p);
}

/* A pointwise variant's own entry point (or H_PW_PLAIN's), out of place (inplace 0) or in place (1: out holds the input
 * on entry; scratch OFA_PW_INPLACE_PIXELS * out_c bytes). -1: no such variant here. */
int h_pw_entry(int variant, int inplace, const int32_t *ip, const int8_t *w, const int32_t *bias,
               const int32_t *mult, const int8_t *shift, const int8_t *in, int8_t *out, int8_t *scratch)
{
    ofa_conv_params_t p;
    fill_conv(&p, ip, w, bias, mult, shift);
    if (!pw_entry(variant)) {
        return -1;
    }
    if (!inplace) {
        pw_entry(variant)(&p, in, out);
    } else if (variant == OFA_PW_VARIANT_ANY) {
        ofa_pointwise_s8_inplace(&p, out, scratch);
    } else {
#if OFA_KERNELS_DSP
        (variant == H_PW_PLAIN ? ofa_pointwise_s8_inplace_plain : ofa_pointwise_s8_inplace_pairs)(&p, out, scratch);
#endif
    }
    return 0;
}

/* an expand conv (ip1, ...) fused with a depthwise conv (ip2, ...): ofa_expand_depthwise_s8, or with
 * dw_variant >= 0 ofa_expand_depthwise_s8_with the pointwise variant pw_variant and that depthwise variant */
int h_expand_dw(const int32_t *ip1, const int8_t *w1, const int32_t *b1, const int32_t *m1, const int8_t *s1,
                const int32_t *ip2, const int8_t *w2, const int32_t *b2, const int32_t *m2, const int8_t *s2,
                const int8_t *in, int8_t *window, int8_t *out, int pw_variant, int dw_variant)
{
    ofa_conv_params_t expand, dw;
    fill_conv(&expand, ip1, w1, b1, m1, s1);
    fill_conv(&dw, ip2, w2, b2, m2, s2);
    if (dw_variant < 0) {
        ofa_expand_depthwise_s8(&expand, &dw, in, window, out);
        return 0;
    }
    if (!dw_entry(dw_variant) || !pw_entry(pw_variant)) {
        return -1;
    }
    ofa_expand_depthwise_s8_with(&expand, &dw, pw_entry(pw_variant), dw_entry(dw_variant), in, window, out);
    return 0;
}

/* batches in_features out_features in_offset out_offset act_min act_max per_channel */
static void fill_fc(ofa_fc_params_t *p, const int32_t *ip, const int8_t *w, const int32_t *bias,
                    const int32_t *mult, const int8_t *shift)
{
    p->batches = ip[0];
    p->in_features = ip[1];
    p->out_features = ip[2];
    p->in_offset = ip[3];
    p->out_offset = ip[4];
    p->act_min = ip[5];
    p->act_max = ip[6];
    p->per_channel = ip[7];
    p->weights = w;
    p->bias = bias;
    p->out_mult = mult;
    p->out_shift = shift;
}

int h_fc(const int32_t *ip, const int8_t *w, const int32_t *bias, const int32_t *mult, const int8_t *shift,
         const int8_t *in, int8_t *out)
{
    ofa_fc_params_t p;
    fill_fc(&p, ip, w, bias, mult, shift);
    ofa_fully_connected_s8(&p, in, out);
    return 0;
}

/* ofa_fully_connected_s8_x4 (x4 1: out_features a multiple of 4) or ofa_fully_connected_s8_x2 (x4 0) */
int h_fc_variant(int x4, const int32_t *ip, const int8_t *w, const int32_t *bias, const int32_t *mult,
                 const int8_t *shift, const int8_t *in, int8_t *out)
{
    ofa_fc_params_t p;
    fill_fc(&p, ip, w, bias, mult, shift);
    if (x4 && p.out_features % 4 != 0) {
        return -1;
    }
    if (x4) {
        ofa_fully_connected_s8_x4(&p, in, out);
    } else {
        ofa_fully_connected_s8_x2(&p, in, out);
    }
    return 0;
}

/* size in1_offset in2_offset out_offset in1_mult in2_mult out_mult
 * in1_shift in2_shift out_shift act_min act_max */
int h_add(const int32_t *ip, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    ofa_add_params_t p;
    p.size = ip[0];
    p.in1_offset = ip[1];
    p.in2_offset = ip[2];
    p.out_offset = ip[3];
    p.in1_mult = ip[4];
    p.in2_mult = ip[5];
    p.out_mult = ip[6];
    p.in1_shift = (int8_t)ip[7];
    p.in2_shift = (int8_t)ip[8];
    p.out_shift = (int8_t)ip[9];
    p.act_min = ip[10];
    p.act_max = ip[11];
    ofa_add_s8(&p, in1, in2, out);
    return 0;
}

/* ofa_add.h's 32-bit input rescaling of ADD, offset 0, for n values v (|v| <= 255) */
int h_add_in(const int32_t *v, int32_t n, int32_t mult, int32_t shift, int32_t *out)
{
    const ofa_add_in_t c = ofa_add_in(0, mult, shift);
    int32_t i;
    if (!ofa_add_in_ok(mult, shift)) {
        return 1;
    }
    for (i = 0; i < n; ++i) {
        out[i] = ofa_add_in_apply(&c, v[i]);
    }
    return 0;
}

/* h w c in_zero_point out_zero_point mult shift */
int h_mean(const int32_t *ip, const int8_t *in, int8_t *out)
{
    ofa_mean_params_t p;
    p.h = (uint16_t)ip[0];
    p.w = (uint16_t)ip[1];
    p.c = (uint16_t)ip[2];
    p.in_zero_point = ip[3];
    p.out_zero_point = ip[4];
    p.mult = ip[5];
    p.shift = (int8_t)ip[6];
    ofa_mean_hw_s8(&p, in, out);
    return 0;
}

/* in_h in_w c out_h out_w k_h k_w stride_h stride_w pad_top pad_left act_min act_max */
int h_avgpool(const int32_t *ip, const int8_t *in, int8_t *out)
{
    ofa_avgpool_params_t p;
    p.in_h = (uint16_t)ip[0];
    p.in_w = (uint16_t)ip[1];
    p.c = (uint16_t)ip[2];
    p.out_h = (uint16_t)ip[3];
    p.out_w = (uint16_t)ip[4];
    p.k_h = (uint8_t)ip[5];
    p.k_w = (uint8_t)ip[6];
    p.stride_h = (uint8_t)ip[7];
    p.stride_w = (uint8_t)ip[8];
    p.pad_top = (uint8_t)ip[9];
    p.pad_left = (uint8_t)ip[10];
    p.act_min = ip[11];
    p.act_max = ip[12];
    ofa_avgpool_s8(&p, in, out);
    return 0;
}

/* outer depth input_multiplier input_left_shift diff_min */
int h_softmax(const int32_t *ip, const int8_t *in, int8_t *out)
{
    ofa_softmax_params_t p;
    p.outer = ip[0];
    p.depth = ip[1];
    p.input_multiplier = ip[2];
    p.input_left_shift = ip[3];
    p.diff_min = ip[4];
    ofa_softmax_s8(&p, in, out);
    return 0;
}

/* the requantization primitives, elementwise, for direct tests:
 * which 0 = ofa_requant (fused), 1 = ofa_requant_ref (literal TFLM),
 * 2 = ofa_srdhm(x, mult), 3 = ofa_rdivpot(x, shift) */
void h_requant(int which, const int32_t *x, const int32_t *mult, const int32_t *shift, int32_t *y, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        switch (which) {
        case 0:
            y[i] = ofa_requant(x[i], mult[i], shift[i]);
            break;
        case 1:
            y[i] = ofa_requant_ref(x[i], mult[i], shift[i]);
            break;
        case 2:
            y[i] = ofa_srdhm(x[i], mult[i]);
            break;
        default:
            y[i] = ofa_rdivpot(x[i], shift[i]);
            break;
        }
    }
}
