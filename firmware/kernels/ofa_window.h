/*
 * ofa_window.h - which kernel taps of one spatial axis fall inside the input.
 *
 * For an output position whose first tap lands at input coordinate `start` (negative inside the
 * top/left zero padding), the taps [ofa_tap_begin, ofa_tap_end) read real input; the others read
 * padding and are skipped (conv, depthwise) or not counted (average pool). Shared by every
 * windowed kernel so the padding rule is written once.
 */
#ifndef OFA_WINDOW_H
#define OFA_WINDOW_H

#include <stdint.h>

static inline int32_t ofa_tap_begin(int32_t start)
{
    return start < 0 ? -start : 0;
}

static inline int32_t ofa_tap_end(int32_t start, int32_t in_size, int32_t k)
{
    return (in_size - start) < k ? (in_size - start) : k;
}

#endif /* OFA_WINDOW_H */
