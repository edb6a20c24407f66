/*
 * softmax.c - int8 SOFTMAX over the last dimension, bit for bit as TFLM computes it for an int8
 * input and an int8 output (output scale 1/256, zero point -128): tflite::reference_ops::Softmax
 * with the parameters TFLM's CalculateSoftmaxParams derives (no lookup table: TFLM builds LUTs
 * only for int16 softmax). Per row:
 *
 *   max     = the largest input of the row
 *   diff    = x - max (<= 0); inputs with diff < diff_min give exactly -128
 *   a       = SRDHM(diff * 2^input_left_shift, input_multiplier)          Q5.26 (beta*scale*diff)
 *   e       = exp_on_negative_values(a)                                   Q0.31 (gemmlowp)
 *   sum     = sum of RoundingDivideByPOT(e, 12)                           Q12.19
 *   r, n    = GetReciprocal(sum, 12): 1/sum as Q0.31 and its exponent
 *   y       = clamp(RoundingDivideByPOT(SRDHM(r, e), n + 23) - 128, -128, 127)
 *
 * When many inputs of a long row (depth >= 512) equal the maximum, sum >= 2^28 and n + 23 > 31:
 * gemmlowp's RoundingDivideByPOT asserts exponent <= 31 there and the host tflite_micro package
 * aborts; this kernel then gives the rounded quotient, 0 (every output -128 + 0). depth <= 4095
 * keeps sum below 2^31.
 *
 * (input_multiplier, input_left_shift, diff_min) come from the input scale and beta
 * (softmax_params() in ofa_mcu/native/requant.py, TFLM's PreprocessSoftmaxScaling and
 * CalculateInputRadius with 5 integer bits). The fixed-point helpers below are gemmlowp's
 * (fixedpoint.h) for int32 scalars, with the same rounding and saturation.
 */
#include "ofa_kernels.h"
#include "ofa_requant.h"

/* gemmlowp SaturatingRoundingMultiplyByPOT<e> for 0 < e < 31: saturating left shift. */
static int32_t sat_shift_left(int32_t x, int e)
{
    const int32_t threshold = (int32_t)((1u << (31 - e)) - 1u);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << e);
}

/* gemmlowp exp_on_interval_between_negative_one_quarter_and_0_excl, Q0.31 in and out. */
static int32_t exp_quarter(int32_t a)
{
    const int32_t constant_term = 1895147668; /* exp(-1/8) */
    const int32_t one_third = 715827883;
    const int32_t x = a + (1 << 28); /* a + 1/8 */
    const int32_t x2 = ofa_srdhm(x, x);
    const int32_t x3 = ofa_srdhm(x2, x);
    const int32_t x4 = ofa_srdhm(x2, x2);
    const int32_t x4_over_4 = ofa_rdivpot(x4, 2);
    const int32_t poly = ofa_rdivpot(ofa_srdhm(x4_over_4 + x3, one_third) + x2, 1);
    return constant_term + ofa_srdhm(constant_term, x + poly);
}

/* gemmlowp exp_on_negative_values for a Q5.26 input a <= 0; Q0.31 result. */
static int32_t exp_negative(int32_t a)
{
    static const int32_t multipliers[7] = {
        1672461947, /* exp(-1/4) */
        1302514674, /* exp(-1/2) */
        790015084,  /* exp(-1) */
        290630308,  /* exp(-2) */
        39332535,   /* exp(-4) */
        720401,     /* exp(-8) */
        242,        /* exp(-16) */
    };
    const int32_t quarter = 1 << 24;
    const int32_t a_mod_quarter_minus_quarter = (a & (quarter - 1)) - quarter;
    /* Rescale<0> of a Q5.26 value: a saturating left shift by 5 (never saturates here) */
    int32_t result = exp_quarter(sat_shift_left(a_mod_quarter_minus_quarter, 5));
    const uint32_t remainder = (uint32_t)a_mod_quarter_minus_quarter - (uint32_t)a;
    int k;
    for (k = 0; k < 7; ++k) {
        if ((remainder & (1u << (24 + k))) != 0u) {
            result = ofa_srdhm(result, multipliers[k]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

/* gemmlowp RoundingHalfSum. */
static int32_t rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + (int64_t)b;
    return (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1: Q0.31 in and out (Newton-Raphson, 3 steps). */
static int32_t one_over_one_plus_x(int32_t a)
{
    const int32_t half_denominator = rounding_half_sum(a, INT32_MAX);
    const int32_t c48_over_17 = 1515870810;      /* Q2.29 */
    const int32_t c_neg32_over_17 = -1010580540; /* Q2.29 */
    int32_t x = c48_over_17 + ofa_srdhm(half_denominator, c_neg32_over_17);
    int i;
    for (i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = ofa_srdhm(half_denominator, x);
        const int32_t one_minus = (1 << 29) - half_denominator_times_x;
        x = x + sat_shift_left(ofa_srdhm(x, one_minus), 2);
    }
    return sat_shift_left(x, 1);
}

static int count_leading_zeros(uint32_t x)
{
    int n = 0;
    if (x == 0u) {
        return 32;
    }
    while ((x & 0x80000000u) == 0u) {
        x <<= 1;
        ++n;
    }
    return n;
}

void ofa_softmax_s8(const ofa_softmax_params_t *restrict p, const int8_t *restrict input,
                    int8_t *restrict output)
{
    const int32_t depth = p->depth;
    const int32_t mult = p->input_multiplier;
    const int shift = (int)p->input_left_shift;
    int32_t row, c;

    for (row = 0; row < p->outer; ++row) {
        const int8_t *x = input + row * depth;
        int8_t *y = output + row * depth;
        int32_t max = -128;
        int32_t sum = 0; /* Q12.19 */
        int32_t recip;
        int headroom_plus_one, bits_over_unit;

        for (c = 0; c < depth; ++c) {
            max = x[c] > max ? x[c] : max;
        }
        for (c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max;
            if (diff >= p->diff_min) {
                const int32_t scaled = ofa_srdhm((int32_t)((uint32_t)diff << shift), mult);
                sum += ofa_rdivpot(exp_negative(scaled), 12);
            }
        }
        /* GetReciprocal(sum, 12): sum >= 2^19 (the maximum contributes exp(0)) */
        headroom_plus_one = count_leading_zeros((uint32_t)sum);
        bits_over_unit = 12 - headroom_plus_one;
        recip = one_over_one_plus_x(
            (int32_t)(((uint32_t)sum << headroom_plus_one) - 0x80000000u));

        for (c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max;
            int32_t out = -128;
            if (diff >= p->diff_min) {
                const int32_t scaled = ofa_srdhm((int32_t)((uint32_t)diff << shift), mult);
                const int exponent = bits_over_unit + 23;
                const int32_t p_scaled = ofa_srdhm(recip, exp_negative(scaled));
                /* |p_scaled| < 2^31 rounds to 0 for any exponent >= 32 */
                out = (exponent <= 31 ? ofa_rdivpot(p_scaled, exponent) : 0) - 128;
                out = ofa_clamp(out, -128, 127);
            }
            y[c] = (int8_t)out;
        }
    }
}
