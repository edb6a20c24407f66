/*
 * A foreign application: what a user's own firmware does with an ofa-mcu library. It includes
 * only ofa_model.h, links only the library's sources, and prints through semihosting on the
 * target (stdio on the host). No ofa-mcu runner, no ofa-mcu board support.
 *
 * It runs the model on OFA_APP_INPUTS pseudo-random int8 inputs (xorshift32 seeded with
 * 0x9E3779B9 + k; byte i of input k is the top byte of the i-th draw, the same sequence
 * tests/test_library.py computes) and prints one line per input: "out K: v0 v1 ...", then the
 * number of timing-hook calls ("hooks N") and "done". Exit status 0 on success.
 */
#include <stdint.h>
#include <string.h>

#include "ofa_model.h"

#ifndef OFA_APP_INPUTS
#define OFA_APP_INPUTS 3
#endif

#if defined(__arm__)
static int semihost(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static void put(const char *s)
{
    (void)semihost(0x04, s); /* SYS_WRITE0 */
}

static void finish(int code)
{
    uint32_t block[2];
    block[0] = 0x20026u; /* ADP_Stopped_ApplicationExit */
    block[1] = (uint32_t)code;
    (void)semihost(0x20, block); /* SYS_EXIT_EXTENDED */
    for (;;) {
    }
}
#else
#include <stdio.h>
#include <stdlib.h>

static void put(const char *s)
{
    fputs(s, stdout);
}

static void finish(int code)
{
    fflush(stdout);
    exit(code);
}
#endif

static void put_int(int32_t v)
{
    char buf[12];
    int i = 11;
    uint32_t u = v < 0 ? (uint32_t)(-(v + 1)) + 1u : (uint32_t)v;
    buf[i] = '\0';
    do {
        buf[--i] = (char)('0' + u % 10u);
        u /= 10u;
    } while (u != 0u);
    if (v < 0) {
        buf[--i] = '-';
    }
    put(&buf[i]);
}

static uint32_t s_hooks;
static uint32_t s_open = 0xFFFFFFFFu;
static int s_hook_error;

static void on_layer(void *user, uint32_t layer, const char *kind, const char *name, int end)
{
    (void)user;
    if (kind == NULL || name == NULL || layer >= OFA_MODEL_LAYERS) {
        s_hook_error = 1;
    }
    if (!end) {
        s_open = layer;
    } else if (s_open != layer) {
        s_hook_error = 1; /* an end without its begin */
    }
    ++s_hooks;
}

int main(void)
{
    static const uint32_t in_dims[] = OFA_MODEL_INPUT_DIMS;
    const ofa_model_tensor_t *in;
    const ofa_model_tensor_t *out;
    uint32_t k, i, n = 1u;

    if (ofa_model_invoke() != -1) { /* not set up yet */
        put("invoke before init did not fail\n");
        finish(3);
    }
    if (ofa_model_init() != 0) {
        put("ofa_model_init failed\n");
        finish(1);
    }
    in = ofa_model_input();
    out = ofa_model_output();
    for (i = 0; i < in->rank; ++i) {
        n *= in->dims[i];
        if (in->dims[i] != in_dims[i]) {
            finish(4);
        }
    }
    if (n != in->bytes || in->bytes != OFA_MODEL_INPUT_BYTES || out->bytes != OFA_MODEL_OUTPUT_BYTES ||
        in->zero_point != OFA_MODEL_INPUT_ZERO_POINT || !(in->scale > 0.0f)) {
        put("tensor description differs from ofa_model.h\n");
        finish(4);
    }
    ofa_model_set_layer_hook(on_layer, NULL);
    for (k = 0; k < OFA_APP_INPUTS; ++k) {
        uint32_t x = 0x9E3779B9u + k;
        for (i = 0; i < in->bytes; ++i) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            in->data[i] = (int8_t)(uint8_t)(x >> 24);
        }
        if (ofa_model_invoke() != 0) {
            put("ofa_model_invoke failed\n");
            finish(2);
        }
        put("out ");
        put_int((int32_t)k);
        put(":");
        for (i = 0; i < out->bytes; ++i) {
            put(" ");
            put_int(out->data[i]);
        }
        put("\n");
    }
    put("hooks ");
    put_int((int32_t)s_hooks);
    put(s_hook_error ? " BAD\n" : "\n");
    put("done\n");
    finish(s_hook_error ? 5 : 0);
    return 0;
}
