/*
 * cycles.c - the 32-bit cycle counter behind bsp_cycles().
 *
 * DWT CYCCNT when the board YAML asks for it, the core has a DWT, and CYCCNT is seen to advance
 * (QEMU implements no DWT: CYCCNT reads 0 there). Otherwise SysTick clocked from the processor
 * clock, free-running over its full 24-bit range; its wrap interrupt counts the upper 8 bits.
 */
#include "bsp_internal.h"

/* SysTick (ARMv7-M ARM B3.3.2; ARMv6-M ARM B3.3). */
#define SYST_CSR BSP_REG(0xE000E010u)      /* SysTick Control and Status Register */
#define SYST_RVR BSP_REG(0xE000E014u)      /* SysTick Reload Value Register */
#define SYST_CVR BSP_REG(0xE000E018u)      /* SysTick Current Value Register */
#define SYST_CSR_ENABLE (1u << 0)          /* ENABLE: counter enabled */
#define SYST_CSR_TICKINT (1u << 1)         /* TICKINT: exception on count to 0 */
#define SYST_CSR_CLKSOURCE (1u << 2)       /* CLKSOURCE: 1 = processor clock */
#define SYST_MAX 0x00FFFFFFu               /* 24-bit counter */

/* Debug Exception and Monitor Control, DWT (ARMv7-M ARM C1.6.5, C1.8). */
#define DEMCR BSP_REG(0xE000EDFCu)         /* Debug Exception and Monitor Control Register */
#define DEMCR_TRCENA (1u << 24)            /* TRCENA: enable DWT and ITM */
#define DWT_CTRL BSP_REG(0xE0001000u)      /* DWT Control Register */
#define DWT_CYCCNT BSP_REG(0xE0001004u)    /* DWT Cycle Count Register */
#define DWT_LAR BSP_REG(0xE0001FB0u)       /* DWT Lock Access Register (Cortex-M7 CoreSight) */
#define DWT_CTRL_CYCCNTENA (1u << 0)       /* CYCCNTENA: enable CYCCNT */
#define DWT_CTRL_NOCYCCNT (1u << 25)       /* NOCYCCNT: 1 = no cycle counter */
#define CORESIGHT_UNLOCK 0xC5ACCE55u       /* LAR key */

static int s_dwt;                    /* 1: bsp_cycles() reads DWT CYCCNT */
static volatile uint32_t s_wraps;    /* SysTick wraps (each one is 2^24 cycles) */

void SysTick_Handler(void)
{
    s_wraps = s_wraps + 1u;
}

static int dwt_start(void)
{
#if BSP_CORE_HAS_DWT && BSP_COUNTER_DWT
    DEMCR |= DEMCR_TRCENA;
    DWT_LAR = CORESIGHT_UNLOCK; /* needed on Cortex-M7, ignored elsewhere */
    if ((DWT_CTRL & DWT_CTRL_NOCYCCNT) != 0u) {
        return 0;
    }
    DWT_CYCCNT = 0u;
    DWT_CTRL |= DWT_CTRL_CYCCNTENA;
    bsp_spin(64u);
    return DWT_CYCCNT != 0u; /* a counter that stays 0 (QEMU) is no counter */
#else
    return 0;
#endif
}

void bsp_cycles_init(void)
{
    s_dwt = dwt_start();
    if (!s_dwt) {
        s_wraps = 0u;
        SYST_RVR = SYST_MAX;
        SYST_CVR = 0u; /* any write clears the current value and COUNTFLAG */
        SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
    }
}

uint32_t bsp_cycles(void)
{
    uint32_t hi;
    uint32_t cvr;
    if (s_dwt) {
        return DWT_CYCCNT;
    }
    /* Read the wrap count and the counter until no wrap interrupt came in between. */
    do {
        hi = s_wraps;
        cvr = SYST_CVR & SYST_MAX;
    } while (hi != s_wraps);
    /*
     * The counter counts down SYST_MAX..0; reaching 0 raises the wrap interrupt, so 0 is the
     * first value of the next period: elapsed ticks in this period = (2^24 - CVR) mod 2^24.
     */
    return (hi << 24) + ((0x01000000u - cvr) & SYST_MAX);
}

const char *bsp_counter_kind(void)
{
    return s_dwt ? "dwt" : "systick";
}
