/*
 * semihost.c - bsp_exit(): Arm semihosting exit under QEMU, a sleep loop on hardware.
 *
 * Semihosting (Arm "Semihosting for AArch32 and AArch64", v2): BKPT 0xAB with the operation in
 * r0 and a parameter block address in r1. SYS_EXIT_EXTENDED (0x20) takes {reason, subcode}; with
 * reason ADP_Stopped_ApplicationExit (0x20026) QEMU exits with status = subcode. On a board
 * without a debugger BKPT would fault, hence BSP_SEMIHOSTING (1 only for emulated builds).
 */
#include "bsp_internal.h"

#define SYS_EXIT 0x18u                         /* SYS_EXIT: r1 = reason (AArch32) */
#define SYS_EXIT_EXTENDED 0x20u                /* SYS_EXIT_EXTENDED: r1 -> {reason, subcode} */
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u  /* ADP_Stopped_ApplicationExit */
#define ADP_STOPPED_RUNTIME_ERROR 0x20023u     /* ADP_Stopped_RunTimeErrorUnknown */

#if BSP_SEMIHOSTING
static uint32_t semihost_call(uint32_t op, uintptr_t arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register uintptr_t r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}
#endif

void bsp_exit(int status)
{
#if BSP_SEMIHOSTING
    {
        volatile uint32_t block[2];
        block[0] = ADP_STOPPED_APPLICATION_EXIT;
        block[1] = (uint32_t)status;
        (void)semihost_call(SYS_EXIT_EXTENDED, (uintptr_t)block);
        /* A host without the extended call: plain SYS_EXIT (status 0 or 1 only). */
        (void)semihost_call(SYS_EXIT,
                            status == 0 ? ADP_STOPPED_APPLICATION_EXIT : ADP_STOPPED_RUNTIME_ERROR);
    }
#else
    (void)status;
#endif
    for (;;) {
        __asm__ volatile("wfi");
    }
}
