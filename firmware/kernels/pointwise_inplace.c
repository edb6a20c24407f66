/*
 * pointwise_inplace.c - a stride-1 1x1 CONV_2D with out_c == in_c whose
 * output overwrites its input: OFA_PW_INPLACE_PIXELS pixels at a time are
 * computed by ofa_pointwise_s8 into `scratch` (out_c bytes per pixel), then
 * copied over those pixels, whose input has been read. Output pixel k only
 * depends on input pixel k, so the results equal ofa_pointwise_s8's.
 * ofa_pointwise_s8_inplace_pairs / _plain do the same through ofa_pointwise_s8_pairs / _plain (DSP cores).
 */
#include <string.h>

#include "ofa_kernels.h"
#include "ofa_requant.h"

OFA_INLINE void pw_inplace(const ofa_conv_params_t *p, int8_t *buf, int8_t *scratch, ofa_conv_fn pointwise)
{
    const int32_t npix = (int32_t)p->out_h * p->out_w;
    const int32_t c = p->out_c;
    ofa_conv_params_t chunk = *p;
    int32_t pix;

    for (pix = 0; pix < npix; pix += OFA_PW_INPLACE_PIXELS) {
        const int32_t n = (npix - pix) < OFA_PW_INPLACE_PIXELS ? (npix - pix) : OFA_PW_INPLACE_PIXELS;
        chunk.out_h = chunk.in_h = (uint16_t)n;
        chunk.out_w = chunk.in_w = 1;
        pointwise(&chunk, buf + pix * c, scratch);
        memcpy(buf + pix * c, scratch, (size_t)(n * c));
    }
}

void ofa_pointwise_s8_inplace(const ofa_conv_params_t *p, int8_t *buf, int8_t *scratch)
{
    pw_inplace(p, buf, scratch, ofa_pointwise_s8);
}

#if OFA_USE_DSP
void ofa_pointwise_s8_inplace_pairs(const ofa_conv_params_t *p, int8_t *buf, int8_t *scratch)
{
    pw_inplace(p, buf, scratch, ofa_pointwise_s8_pairs);
}

void ofa_pointwise_s8_inplace_plain(const ofa_conv_params_t *p, int8_t *buf, int8_t *scratch)
{
    pw_inplace(p, buf, scratch, ofa_pointwise_s8_plain);
}
#endif
