/*
 * ofa_tflm_platform.cc - the platform functions a TFLM tree expects from its target, on top of
 * the ofa-mcu BSP. They replace the tree's own debug_log, micro_time and system_setup files
 * (the CMake project leaves those out: in the Arduino library's tree they call Arduino APIs).
 *
 *   DebugLog()            TFLM's log output -> the BSP UART. Trees up to early 2023 declare
 *                         DebugLog(const char *s); later ones DebugLog(format, va_list) plus
 *                         DebugVsnprintf(). CMake reads the tree's debug_log.h and sets
 *                         OFA_TFLM_DEBUGLOG_VA_LIST accordingly.
 *   ticks_per_second(),   the BSP cycle counter (core clock; instructions under QEMU -icount).
 *   GetCurrentTimeTicks()
 *   InitializeTarget()    bsp_init().
 *
 * And two C++ run-time pieces, so that no heap and no exception machinery is linked in:
 *   __cxa_pure_virtual()  called only on a broken vtable: report and stop.
 *   operator delete       the virtual destructors of TFLM's classes reference it, but nothing in
 *                         this firmware is ever allocated with new (placement new only).
 */
#include <stddef.h>
#include <stdint.h>

#include "bsp.h"
#include "tensorflow/lite/micro/debug_log.h"
#include "tensorflow/lite/micro/micro_time.h"
#include "tensorflow/lite/micro/system_setup.h"

#ifndef OFA_TFLM_DEBUGLOG_VA_LIST
#define OFA_TFLM_DEBUGLOG_VA_LIST 0
#endif

#if OFA_TFLM_DEBUGLOG_VA_LIST
#include <stdarg.h>

#include "ofa_tflm_format.h"

#ifndef OFA_TFLM_LOG_BYTES
#define OFA_TFLM_LOG_BYTES 256 /* longest log message printed whole */
#endif

extern "C" void DebugLog(const char *format, va_list args)
{
    char text[OFA_TFLM_LOG_BYTES];
    ofa_tflm_vsnprintf(text, sizeof text, format, args);
    bsp_puts(text);
}

extern "C" int DebugVsnprintf(char *buffer, size_t buf_size, const char *format, va_list vlist)
{
    return ofa_tflm_vsnprintf(buffer, buf_size, format, vlist);
}
#else
extern "C" void DebugLog(const char *s)
{
    bsp_puts(s);
}
#endif

namespace tflite {

uint32_t ticks_per_second()
{
    return bsp_clock_hz();
}

uint32_t GetCurrentTimeTicks()
{
    return bsp_cycles();
}

void InitializeTarget()
{
    bsp_init();
}

} // namespace tflite

extern "C" void __cxa_pure_virtual()
{
    bsp_puts("e-[TFLM: pure virtual function called]\r\n");
    bsp_exit(134);
}

void operator delete(void *) noexcept {}

void operator delete(void *, size_t) noexcept {}
