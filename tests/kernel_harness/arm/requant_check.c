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
 * |v| <= 255, every shift in [-31, 0] and 66 multipliers (counted in the same n and k). On DSP
 * cores also the kernels' four-output stage (ofa_output_sat8 + ofa_clamp4_s8) against
 * clamp(ofa_requant_ref + offset, lo, hi) on REQ_N random outputs with right shifts, random
 * offsets and activation ranges, plus the edge table.
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

/* one random case: x full-range / accumulator-like / small, QuantizeMultiplier-like m, shifts in [-31, 7] */
static void random_case(int32_t *x_out, int32_t *m_out, int *sh_out)
{
    int32_t x, m;
    int sh;
    const uint32_t kind = rnd();
    x = (int32_t)rnd();
    m = (int32_t)((rnd() >> 1) | 0x40000000u);
    sh = -(int)(rnd() % 32u) + 7 - (int)(kind & 7u) % 8; /* [-31, 7] */
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
    *x_out = x;
    *m_out = m;
    *sh_out = sh;
}

#if OFA_USE_DSP
/* the DSP kernels' output stage (ofa_output_sat8, ofa_clamp4_s8) on four outputs, shifts < 0 */
static void check_out4(const int32_t acc[4], const int32_t m[4], const int sh[4], int32_t off, int32_t lo, int32_t hi)
{
    const uint32_t got = ofa_clamp4_s8(ofa_output_sat8(acc[0], m[0], -sh[0], off), ofa_output_sat8(acc[1], m[1], -sh[1], off),
                                       ofa_output_sat8(acc[2], m[2], -sh[2], off), ofa_output_sat8(acc[3], m[3], -sh[3], off),
                                       ofa_dup8(lo), ofa_dup8(hi));
    int k;
    for (k = 0; k < 4; ++k) {
        const int32_t want = ofa_clamp(ofa_requant_ref(acc[k], m[k], sh[k]) + off, lo, hi);
        if ((int8_t)(uint8_t)(got >> (8 * k)) != want) {
            if (bad < 8u) {
                bench_puts("MISMATCH output4 ");
                bench_put_i32(acc[k]);
                bench_puts(" ");
                bench_put_i32(m[k]);
                bench_puts(" ");
                bench_put_i32(sh[k]);
                bench_puts(" ");
                bench_put_i32(off);
                bench_puts(" ");
                bench_put_i32(lo);
                bench_puts(" ");
                bench_put_i32(hi);
                bench_puts("\n");
            }
            ++bad;
        }
    }
}
#endif

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
        int32_t x, m;
        int sh;
        random_case(&x, &m, &sh);
        check(x, m, sh);
        ++n;
    }
#if OFA_USE_DSP
    for (i = 0; i < REQ_N / 4u; ++i) {
        /* the DSP kernels' output stage, four outputs at a time, right shifts only */
        int32_t acc[4], m[4];
        int sh[4];
        int k;
        const int32_t off = (int32_t)(rnd() % 256u) - 128;
        int32_t lo = -128, hi = 127;
        if (rnd() & 1u) {
            lo = (int32_t)(rnd() % 256u) - 128;
            hi = lo + (int32_t)(rnd() % (uint32_t)(128 - lo));
        }
        for (k = 0; k < 4; ++k) {
            do {
                random_case(&acc[k], &m[k], &sh[k]);
            } while (sh[k] >= 0);
        }
        check_out4(acc, m, sh, off, lo, hi);
        n += 4u;
    }
    for (a = 0; a < sizeof edge_x / sizeof edge_x[0]; ++a) {
        for (b = 0; b < sizeof edge_m / sizeof edge_m[0]; ++b) {
            for (s = -31; s <= -1; ++s) {
                static const int32_t offs[3] = {-128, 0, 127};
                unsigned k;
                for (k = 0; k < 3u; ++k) {
                    const int32_t acc[4] = {edge_x[a], -edge_x[a], edge_x[a] + 1, edge_x[a] - 1};
                    const int32_t m[4] = {edge_m[b], edge_m[b], edge_m[b], edge_m[b]};
                    const int sh[4] = {s, s, s, s};
                    check_out4(acc, m, sh, offs[k], -128, 127);
                    check_out4(acc, m, sh, offs[k], offs[k] < 127 ? offs[k] : 0, 127);
                    check_out4(acc, m, sh, offs[k], -3, 6);
                    n += 12u;
                }
            }
        }
    }
#endif
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
        /* ADD's output stage on DSP cores: |x| < 2^29, shifts [-31, -1], plus an addend (the
           output offset, or the other input) taken by the rounding carry's ADC */
        const int32_t x = (int32_t)(rnd() >> 2) - (1 << 29);
        const int32_t m = (i & 63u) == 0u ? (1 << 30) : (int32_t)(0x40000000u | (rnd() & 0x3FFFFFFFu));
        const int e = 1 + (int)(rnd() % 31u);
        const int32_t c = (int32_t)(rnd() >> 4) - (1 << 27);
        const int32_t got = ofa_rdivpot_pos_add(ofa_srdhm_small(x, m), e, c);
        if (got != ofa_requant_ref(x, m, -e) + c) {
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
