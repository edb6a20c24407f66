/*
 * startup.c - reset handler and vector table for every Cortex-M core.
 *
 * Reset: enable the FPU (if the build uses it), copy .data from flash, zero .bss, paint the stack
 * for the high-water mark, point VTOR at our table, set the ARMv8-M stack limit, run C/C++
 * constructors, call main(), then bsp_exit(main's return value).
 *
 * The symbols below come from the generated linker script (linker.ld).
 */
#include <stddef.h>
#include <stdint.h>

#include "bsp_internal.h"

extern uint32_t __data_load__[];  /* LOADADDR(.data): initial values in flash */
extern uint32_t __data_start__[]; /* .data in RAM */
extern uint32_t __data_end__[];
extern uint32_t __bss_start__[];
extern uint32_t __bss_end__[];
extern uint32_t __stack_bottom__[]; /* lowest address of the stack (stack grows down to it) */
extern uint32_t __stack_top__[];    /* initial main stack pointer */

typedef void (*bsp_ctor_t)(void);
extern bsp_ctor_t __preinit_array_start[];
extern bsp_ctor_t __preinit_array_end[];
extern bsp_ctor_t __init_array_start[];
extern bsp_ctor_t __init_array_end[];

/* The word painted over the unused stack; bsp_stack_high_water() looks for the first non-match. */
#define BSP_STACK_PAINT 0xC5AC5AC5u
/* Bytes below the reset handler's frame left unpainted (its own locals and call frames). */
#define BSP_STACK_PAINT_MARGIN 64u

extern int main(void);

void Reset_Handler(void) __attribute__((noreturn));
void Default_Handler(void);
void HardFault_Handler(void);
void NMI_Handler(void) __attribute__((weak, alias("Default_Handler")));
void MemManage_Handler(void) __attribute__((weak, alias("HardFault_Handler")));
void BusFault_Handler(void) __attribute__((weak, alias("HardFault_Handler")));
void UsageFault_Handler(void) __attribute__((weak, alias("HardFault_Handler")));
void SecureFault_Handler(void) __attribute__((weak, alias("HardFault_Handler")));
void SVC_Handler(void) __attribute__((weak, alias("Default_Handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("Default_Handler")));
void PendSV_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));

/* C++ support without crtbegin.o (we link with -nostartfiles). */
void *__dso_handle __attribute__((weak)) = NULL;

/* One vector table entry: the initial stack pointer or a handler address. */
typedef union {
    void (*handler)(void);
    void *stack_top;
} bsp_vector_t;

/*
 * The 16 system exception vectors (ARMv7-M ARM B1.5.2, "Exception number definition"). Device
 * interrupts are never enabled by this firmware, so no IRQ vectors follow.
 */
__attribute__((section(".isr_vector"), used)) const bsp_vector_t bsp_vector_table[16] = {
    {.stack_top = __stack_top__},    /* 0: initial SP_main */
    {.handler = Reset_Handler},      /* 1: Reset */
    {.handler = NMI_Handler},        /* 2: NMI */
    {.handler = HardFault_Handler},  /* 3: HardFault */
    {.handler = MemManage_Handler},  /* 4: MemManage (v7-M) */
    {.handler = BusFault_Handler},   /* 5: BusFault (v7-M) */
    {.handler = UsageFault_Handler}, /* 6: UsageFault (v7-M) */
    {.handler = SecureFault_Handler}, /* 7: SecureFault (v8-M Mainline with Security ext.) */
    {.handler = NULL},               /* 8: reserved */
    {.handler = NULL},               /* 9: reserved */
    {.handler = NULL},               /* 10: reserved */
    {.handler = SVC_Handler},        /* 11: SVCall */
    {.handler = DebugMon_Handler},   /* 12: DebugMonitor (v7-M) */
    {.handler = NULL},               /* 13: reserved */
    {.handler = PendSV_Handler},     /* 14: PendSV */
    {.handler = SysTick_Handler},    /* 15: SysTick */
};

static void run_array(bsp_ctor_t *start, bsp_ctor_t *end)
{
    for (bsp_ctor_t *p = start; p < end; ++p) {
        (*p)();
    }
}

void Reset_Handler(void)
{
#if defined(__ARM_FP)
    /* CPACR.CP10/CP11 = 0b11: full access to the floating-point unit (ARMv7-M ARM B3.2.20). */
    SCB_CPACR |= (0xFu << 20);
    BSP_DSB();
    BSP_ISB();
#endif

    /* .data: copy initial values from flash (volatile: no memcpy call before .bss is set up). */
    {
        volatile uint32_t *dst = __data_start__;
        const uint32_t *src = __data_load__;
        while (dst < __data_end__) {
            *dst++ = *src++;
        }
    }
    /* .bss: zero. */
    {
        volatile uint32_t *dst = __bss_start__;
        while (dst < __bss_end__) {
            *dst++ = 0u;
        }
    }
    /* Paint the unused stack, from its bottom to just below this function's frame. */
    {
        uintptr_t limit = (uintptr_t)__builtin_frame_address(0) - BSP_STACK_PAINT_MARGIN;
        volatile uint32_t *p = __stack_bottom__;
        while ((uintptr_t)p < limit) {
            *p++ = BSP_STACK_PAINT;
        }
    }
#if BSP_CORE_HAS_VTOR
    /* VTOR: our table (the boot alias at 0 may point elsewhere, e.g. with a bootloader). */
    SCB_VTOR = (uint32_t)(uintptr_t)bsp_vector_table;
    BSP_DSB();
#endif
#if BSP_CORE_HAS_MSPLIM
    /* MSPLIM: a stack overflow below the reserved stack raises a fault instead of corrupting RAM. */
    __asm__ volatile("msr msplim, %0" : : "r"((uint32_t)(uintptr_t)__stack_bottom__));
#endif

    run_array(__preinit_array_start, __preinit_array_end);
    run_array(__init_array_start, __init_array_end);

    bsp_exit(main());
}

uint32_t bsp_stack_high_water(void)
{
    const uint32_t *p = __stack_bottom__;
    while (p < __stack_top__ && *p == BSP_STACK_PAINT) {
        ++p;
    }
    return (uint32_t)((uintptr_t)__stack_top__ - (uintptr_t)p);
}

uint32_t bsp_stack_size(void)
{
    return (uint32_t)((uintptr_t)__stack_top__ - (uintptr_t)__stack_bottom__);
}

uint32_t bsp_static_ram(void)
{
    return (uint32_t)(((uintptr_t)__data_end__ - (uintptr_t)__data_start__) +
                      ((uintptr_t)__bss_end__ - (uintptr_t)__bss_start__));
}

/* Unexpected exception: report it on the UART (if it is up) and stop. */
void Default_Handler(void)
{
    bsp_puts("\r\ne-[unexpected exception]\r\n");
    bsp_exit(126);
}

void HardFault_Handler(void)
{
    bsp_puts("\r\ne-[hard fault]\r\n");
    bsp_exit(127);
}
