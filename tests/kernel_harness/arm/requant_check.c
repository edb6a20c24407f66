/*
 * requant_check.c - bare-metal check of ofa_requant (the form the kernels use, on ARMv7-M the
 * SMULL/ADC assembly) against ofa_requant_ref (TFLM's double rounding written literally) on
 * REQ_N pseudo-random values plus a table of edge values, in QEMU.
 *
 * Values: x full-range, |x| < 2^20 (accumulator-like) and |x| < 300; multipliers in
 * [2^30, 2^31) (QuantizeMultiplier), [2^29, 2^30) (folded MEAN multipliers) and 0; shifts in
 * [-31, 7] with extra weight on [-12, 0]; exact ties of the second rounding (x*m = k*2^(31+e) +/-
 * 2^(30+e) +/- 2^30) are generated on purpose. Prints "MISMATCH x m s got want" for the first
 * few differences, then "CHECKED n BAD k" and "TICKS t" (SysTick ticks of a timed loop of
 * REQ_TIMED ofa_output_s8 calls), exits 0 when k == 0. Also ADD's input rescaling (ofa_add.h: on
 * DSP cores SMMULR, else 32-bit products) against ofa_requant_ref(v * 2^20, m, s) for every
 * |v| <= 255, every shift in [-31, 0] and 66 multipliers (counted in the same n and k).
 */
#include <stdint.h>

#include "bench_support.h"
#include "ofa_add.h"
#include "ofa_requant.h"

#ifndef REQ_N
#define REQ_N 100000u
#endif
#define REQ_TIMED 100000u

static uint32_t rng_state = 0x9E3779B9u;

static uint32_t rnd(void)
{
    /* xorshift32 */
    uint32_t v = rng_state;
    v ^= v << 13;
    v ^= v >> 17;
    v ^= v << 5;
    rng_state = v;
    return v;
}

static uint32_t bad;

static void check(int32_t x, int32_t m, int s)
{
    const int32_t got = ofa_requant(x, m, s);
    const int32_t want = ofa_requant_ref(x, m, s);
    if (got != want) {
        if (bad < 8u) {
            bench_puts("MISMATCH ");
            bench_put_i32(x);
            bench_puts(" ");
            bench_put_i32(m);
            bench_puts(" ");
            bench_put_i32(s);
            bench_puts(" ");
            bench_put_i32(got);
            bench_puts(" ");
            bench_put_i32(want);
            bench_puts("\n");
        }
        ++bad;
    }
}

static const int32_t edge_x[] = {0, 1, -1, 2, -2, 3, -3, 1 << 20, -(1 << 20), 12345, -12345,
                                 INT32_MAX, INT32_MIN, INT32_MIN + 1, INT32_MAX - 1, 1 << 30,
                                 -(1 << 30)};
static const int32_t edge_m[] = {0, 1, 1 << 29, 1 << 30, (1 << 30) + 1, INT32_MAX, INT32_MAX - 1};

/* keep the timed loop from being optimized away or specialized to constant parameters */
static volatile int8_t sink;
static volatile int32_t timed_params[5] = {1518500250, -7, -3, -128, 127};

int main(void)
{
    uint32_t i, n = 0;
    unsigned a, b;
    int s;

    for (a = 0; a < sizeof edge_x / sizeof edge_x[0]; ++a) {
        for (b = 0; b < sizeof edge_m / sizeof edge_m[0]; ++b) {
            for (s = -31; s <= 31; ++s) {
                check(edge_x[a], edge_m[b], s);
                ++n;
            }
        }
    }
    for (i = 0; i < REQ_N; ++i) {
        const uint32_t kind = rnd();
        int32_t x = (int32_t)rnd();
        int32_t m = (int32_t)((rnd() >> 1) | 0x40000000u);
        int sh = -(int)(rnd() % 32u) + 7 - (int)(kind & 7u) % 8; /* [-31, 7] */
        if (sh < -31) {
            sh = -31;
        }
        if ((kind >> 3) % 3u == 0u) {
            x >>= 11; /* |x| < 2^20 */
        } else if ((kind >> 3) % 3u == 1u) {
            x = (int32_t)(rnd() % 600u) - 300;
        }
        if ((kind >> 5) % 5u == 0u) {
            m = (int32_t)((uint32_t)m >> 1); /* [2^29, 2^30) */
        }
        if ((kind >> 8) % 97u == 0u) {
            m = 0;
        }
        if ((kind >> 16) % 3u == 0u) {
            sh = -(int)(rnd() % 13u); /* [-12, 0] */
        }
        if ((kind >> 20) % 7u == 0u && sh < 0) {
            /* a tie of the second rounding: m = 2^30, x = (2k+1) * 2^(e-1) -> y = x/2 exactly */
            const int e = -sh;
            m = 1 << 30;
            x = (int32_t)(((rnd() % 2001u) * 2u + 1u) << (e - 1 < 20 ? e - 1 : 20)) - (int32_t)(kind >> 28);
            if (kind & 0x08000000u) {
                x = -x;
            }
        }
        check(x, m, sh);
        ++n;
    }
    {
        /* ADD's input rescaling, exhaustive over v and the shift */
        int32_t mults[66];
        int k, sh, v;
        mults[0] = 0;
        mults[1] = 1 << 30;
        for (k = 2; k < 66; ++k) {
            mults[k] = (int32_t)(0x40000000u | (rnd() & 0x3FFFFFFFu));
        }
        mults[65] = INT32_MAX;
        for (sh = 0; sh >= -31; --sh) {
            for (k = 0; k < 66; ++k) {
                const ofa_add_in_t c = ofa_add_in(0, mults[k], sh);
                for (v = -255; v <= 255; ++v) {
                    const int32_t got = ofa_add_in_apply(&c, v);
                    const int32_t want = ofa_requant_ref(v * (1 << OFA_ADD_LEFT_SHIFT), mults[k], sh);
                    if (got != want) {
                        if (bad < 8u) {
                            bench_puts("MISMATCH add-input ");
                            bench_put_i32(v);
                            bench_puts("\n");
                        }
                        ++bad;
                    }
                    ++n;
                }
            }
        }
    }
#if OFA_ADD_ASM
    for (i = 0; i < 400000u; ++i) {
        /* ADD's output stage on DSP cores: |x| < 2^29, shifts [-31, -1] */
        const int32_t x = (int32_t)(rnd() >> 2) - (1 << 29);
        const int32_t m = (i & 63u) == 0u ? (1 << 30) : (int32_t)(0x40000000u | (rnd() & 0x3FFFFFFFu));
        const int e = 1 + (int)(rnd() % 31u);
        const int32_t got = ofa_rdivpot_pos(ofa_srdhm_small(x, m), e);
        if (got != ofa_requant_ref(x, m, -e)) {
            if (bad < 8u) {
                bench_puts("MISMATCH add-output ");
                bench_put_i32(x);
                bench_puts("\n");
            }
            ++bad;
        }
        ++n;
    }
#endif
    bench_puts("CHECKED ");
    bench_put_u32(n);
    bench_puts(" BAD ");
    bench_put_u32(bad);
    bench_puts("\n");

    bench_timer_start();
    {
        const int32_t m = timed_params[0], off = timed_params[2];
        const int32_t lo = timed_params[3], hi = timed_params[4];
        const int sh = (int)timed_params[1];
        int32_t acc = 12345;
        uint32_t t0 = bench_ticks();
        for (i = 0; i < REQ_TIMED; ++i) {
            sink = ofa_output_s8(acc, m, sh, off, lo, hi);
            acc += 7919;
        }
        bench_puts("TICKS ");
        bench_put_u32(bench_ticks() - t0);
        bench_puts("\n");
    }
    return bad == 0u ? 0 : 1;
}
