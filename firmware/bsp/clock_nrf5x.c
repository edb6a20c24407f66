/*
 * clock_nrf5x.c - nRF51 / nRF52 / nRF53 clock: start the external high-frequency crystal (HFXO)
 * for an accurate UART baud rate; nRF5340 application core: HFCLKCTRL to 128 MHz when the board
 * clock says so; nRF52: enable the flash instruction cache.
 * nRF51 RM 13 "CLOCK", nRF52840 PS 6.4 "CLOCK" and 6.20 "NVMC", nRF5340 PS 5.4 "CLOCK".
 *
 * BSP_EMULATED: QEMU's nRF51 model does not implement CLOCK; nothing to start.
 */
#include "bsp_internal.h"

#if defined(BSP_FAMILY_NRF53)
#define CLOCK_BASE 0x50005000u /* CLOCK, application core, secure alias */
#else
#define CLOCK_BASE 0x40000000u /* CLOCK */
#endif
#define CLOCK_TASKS_HFCLKSTART BSP_REG(CLOCK_BASE + 0x000u)   /* TASKS_HFCLKSTART */
#define CLOCK_EVENTS_HFCLKSTARTED BSP_REG(CLOCK_BASE + 0x100u) /* EVENTS_HFCLKSTARTED */
#define CLOCK_HFCLKCTRL BSP_REG(CLOCK_BASE + 0x558u)         /* HFCLKCTRL (nRF53): 0 = Div1, 1 = Div2 */
#define NVMC_ICACHECNF BSP_REG(0x4001E540u)                  /* NVMC ICACHECNF (nRF52) */
#define NVMC_ICACHECNF_CACHEEN (1u << 0)                     /* ICACHECNF.CACHEEN */

void bsp_clock_init(void)
{
#if !BSP_EMULATED
    CLOCK_EVENTS_HFCLKSTARTED = 0u;
    CLOCK_TASKS_HFCLKSTART = 1u;
    while (CLOCK_EVENTS_HFCLKSTARTED == 0u) {
    }
    CLOCK_EVENTS_HFCLKSTARTED = 0u;
#if defined(BSP_FAMILY_NRF53)
    CLOCK_HFCLKCTRL = BSP_CLOCK_HZ >= 128000000u ? 0u : 1u;
#endif
#if defined(BSP_FAMILY_NRF52)
    NVMC_ICACHECNF |= NVMC_ICACHECNF_CACHEEN;
#endif
#endif
}
