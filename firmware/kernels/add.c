/*
 * add.c - int8 ADD of two same-shape tensors, TFLM arithmetic (ofa_add.h).
 */
#include "ofa_add.h"
#include "ofa_kernels.h"

void ofa_add_s8(const ofa_add_params_t *restrict p, const int8_t *input1, const int8_t *input2,
                int8_t *output)
{
    const int32_t n = p->size;
    int32_t i;
    for (i = 0; i < n; ++i) {
        output[i] = ofa_add_one_s8(p, input1[i], input2[i]);
    }
}
