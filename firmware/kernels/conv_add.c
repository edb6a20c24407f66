/*
 * conv_add.c - a CONV_2D whose only reader is the ADD right after it, run as
 * one kernel: each int8 conv result r (exactly what ofa_conv_s8 would store)
 * is added into the ADD's other input in place, inout[i] = ADD(r, inout[i])
 * (TFLM's ADD arithmetic, ofa_add.h, with r as input 1). The conv's output
 * tensor never exists: a ResNet block's residual branch costs no buffer.
 * `inout` must not overlap `input`.
 */
#include "ofa_conv_core.h"

void ofa_conv_add_s8(const ofa_conv_params_t *restrict conv, const ofa_add_params_t *add,
                     const int8_t *restrict input, int8_t *restrict inout)
{
    ofa_conv_any_s8(conv, input, inout, add);
}
