/*
 * conv.c - int8 CONV_2D, any kernel size, stride and padding (the loop is
 * ofa_conv_core.h, shared with the conv + ADD kernel).
 */
#include "ofa_conv_core.h"

void ofa_conv_s8(const ofa_conv_params_t *restrict p, const int8_t *restrict input, int8_t *restrict output)
{
    ofa_conv_core(p, input, output, 0);
}
