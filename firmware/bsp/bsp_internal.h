/*
 * bsp_internal.h - what the BSP's driver files share: register access, core feature tests, and
 * the small driver interface each family file implements (clock, UART, cycle counter).
 * Not part of the public API (bsp.h).
 */
#ifndef OFA_BSP_INTERNAL_H
#define OFA_BSP_INTERNAL_H

#include <stdint.h>

#include "board_config.h"
#include "bsp.h"

/* A memory-mapped 32-bit register at an absolute address. */
#define BSP_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* Cores with the ARMv7-M / ARMv8-M Mainline debug unit (DWT with CYCCNT is optional there). */
#if defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__) || defined(__ARM_ARCH_8M_MAIN__) || \
    defined(__ARM_ARCH_8_1M_MAIN__)
#define BSP_CORE_HAS_DWT 1
#define BSP_CORE_HAS_VTOR 1
#else
#define BSP_CORE_HAS_DWT 0 /* ARMv6-M (Cortex-M0/M0+): no CYCCNT */
#define BSP_CORE_HAS_VTOR 0 /* VTOR is optional on M0+ and absent on M0: not used */
#endif

#if defined(__ARM_ARCH_8M_MAIN__) || defined(__ARM_ARCH_8_1M_MAIN__)
#define BSP_CORE_HAS_MSPLIM 1 /* ARMv8-M Mainline: MSPLIM stack-limit register */
#else
#define BSP_CORE_HAS_MSPLIM 0
#endif

/* Memory barriers (valid on every Cortex-M, including ARMv6-M). */
#define BSP_DSB() __asm__ volatile("dsb sy" ::: "memory")
#define BSP_ISB() __asm__ volatile("isb sy" ::: "memory")

/* System Control Block (ARMv7-M ARM B3.2.2 / ARMv6-M ARM B3.2.2). */
#define SCB_ICSR BSP_REG(0xE000ED04u)  /* Interrupt Control and State Register */
#define SCB_VTOR BSP_REG(0xE000ED08u)  /* Vector Table Offset Register */
#define SCB_CCR BSP_REG(0xE000ED14u)   /* Configuration and Control Register */
#define SCB_CPACR BSP_REG(0xE000ED88u) /* Coprocessor Access Control Register */
#define SCB_CCR_DC (1u << 16)          /* CCR.DC: data cache enable (Cortex-M7) */
#define SCB_CCR_IC (1u << 17)          /* CCR.IC: instruction cache enable (Cortex-M7) */

/* Per-family driver entry points (one implementation of each is linked). */
void bsp_clock_init(void);
void bsp_uart_init(void);
void bsp_uart_putc(char c);
void bsp_uart_write(const char *s, unsigned n);
int bsp_uart_getc(void);
void bsp_cycles_init(void);
void bsp_timestamp_init(void); /* timestamp.c: the energy-mode timestamp pin, idle high */

/* Busy-wait roughly n loop iterations (used for the few microsecond delays clock set-up needs). */
static inline void bsp_spin(uint32_t n)
{
    while (n-- > 0u) {
        __asm__ volatile("nop");
    }
}

#endif /* OFA_BSP_INTERNAL_H */
