/*
 * ofa_tflm_format.h - a small vsnprintf for TFLM's log messages, without newlib's printf.
 *
 * TFLM trees from mid-2023 on declare DebugLog(const char *format, va_list args) and
 * DebugVsnprintf(), so the platform formats TFLM's messages. newlib's vsnprintf would pull
 * printf and malloc into the image; this formatter covers what TFLM's messages use:
 * %d %i %u %x %X %o %c %s %p %% and %f %e %g (printed in fixed notation), with the flags
 * '-', '0', '+' and ' ', a width and a precision (digits or '*'), and the length modifiers
 * hh h l ll z t j. Plain C99, usable from C++.
 */
#ifndef OFA_TFLM_FORMAT_H
#define OFA_TFLM_FORMAT_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Like vsnprintf(): writes at most size - 1 characters and a terminating NUL (when size > 0)
 * and returns the number of characters the whole result has (which may be >= size).
 */
int ofa_tflm_vsnprintf(char *buf, size_t size, const char *format, va_list args);

#ifdef __cplusplus
}
#endif

#endif /* OFA_TFLM_FORMAT_H */
