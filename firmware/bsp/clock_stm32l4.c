/*
 * clock_stm32l4.c - STM32L4 / L4+ system clock: HSI16 -> main PLL (R output) -> SYSCLK =
 * BSP_CLOCK_HZ. Above 80 MHz (L4+ only) the core voltage goes to range 1 boost mode.
 * RM0432 (L4R5): "Power control" (PWR_CR1.VOS, PWR_CR5.R1MODE), "Reset and clock control",
 * "Embedded flash memory" (wait states). RM0351 for the L4 without "+" (same registers, 3-bit
 * PLLM, no boost).
 */
#include "stm32_rcc.h"

#define RCC_CR BSP_REG(RCC_BASE + 0x00u)      /* RCC_CR */
#define RCC_CFGR BSP_REG(RCC_BASE + 0x08u)    /* RCC_CFGR */
#define RCC_PLLCFGR BSP_REG(RCC_BASE + 0x0Cu) /* RCC_PLLCFGR */
#define RCC_CR_HSION (1u << 8)                /* CR.HSION */
#define RCC_CR_HSIRDY (1u << 10)              /* CR.HSIRDY */
#define RCC_CR_PLLON (1u << 24)               /* CR.PLLON */
#define RCC_CR_PLLRDY (1u << 25)              /* CR.PLLRDY */
#define RCC_CFGR_SW_PLL 3u                    /* CFGR.SW = 11: PLL */
#define RCC_CFGR_SWS_MASK (3u << 2)           /* CFGR.SWS */
#define RCC_CFGR_SWS_PLL (3u << 2)
#define RCC_PLLCFGR_PLLSRC_HSI16 2u           /* PLLCFGR.PLLSRC = 10: HSI16 */
#define RCC_PLLCFGR_PLLREN (1u << 24)         /* PLLCFGR.PLLREN: PLLCLK (R) output enable */
#define RCC_APB1ENR1_PWREN (1u << 28)         /* APB1ENR1.PWREN */

#define PWR_CR1 BSP_REG(0x40007000u)          /* PWR_CR1 */
#define PWR_SR2 BSP_REG(0x40007014u)          /* PWR_SR2 */
#define PWR_CR5 BSP_REG(0x40007080u)          /* PWR_CR5 (L4+ only) */
#define PWR_CR1_VOS_RANGE1 (1u << 9)          /* CR1.VOS = 01: range 1 */
#define PWR_SR2_VOSF (1u << 10)               /* SR2.VOSF: voltage scaling in progress */
#define PWR_CR5_R1MODE (1u << 8)              /* CR5.R1MODE: 0 = range 1 boost mode */

#define FLASH_ACR BSP_REG(0x40022000u)        /* FLASH_ACR */
#define FLASH_ACR_PRFTEN (1u << 8)            /* ACR.PRFTEN */
#define FLASH_ACR_ICEN (1u << 9)              /* ACR.ICEN */
#define FLASH_ACR_DCEN (1u << 10)             /* ACR.DCEN */

void bsp_clock_init(void)
{
#if !BSP_EMULATED
    RCC_APB1ENR |= RCC_APB1ENR1_PWREN;
    (void)RCC_APB1ENR;
    PWR_CR1 = (PWR_CR1 & ~(3u << 9)) | PWR_CR1_VOS_RANGE1;
    while ((PWR_SR2 & PWR_SR2_VOSF) != 0u) {
    }
#if BSP_STM32_L4_BOOST
    PWR_CR5 &= ~PWR_CR5_R1MODE; /* range 1 boost: up to 120 MHz */
    while ((PWR_SR2 & PWR_SR2_VOSF) != 0u) {
    }
#endif

    RCC_CR |= RCC_CR_HSION;
    while ((RCC_CR & RCC_CR_HSIRDY) == 0u) {
    }
    RCC_CR &= ~RCC_CR_PLLON;
    while ((RCC_CR & RCC_CR_PLLRDY) != 0u) {
    }
    /* PLLSRC [1:0] = HSI16, PLLM [7:4] = M-1, PLLN [14:8], PLLR [26:25] = R/2-1, PLLREN. */
    RCC_PLLCFGR = RCC_PLLCFGR_PLLSRC_HSI16 | (((uint32_t)BSP_PLL_M - 1u) << 4) | ((uint32_t)BSP_PLL_N << 8) |
                  ((((uint32_t)BSP_PLL_R / 2u) - 1u) << 25) | RCC_PLLCFGR_PLLREN;
    RCC_CR |= RCC_CR_PLLON;
    while ((RCC_CR & RCC_CR_PLLRDY) == 0u) {
    }
    FLASH_ACR = (uint32_t)BSP_FLASH_LATENCY | FLASH_ACR_PRFTEN | FLASH_ACR_ICEN | FLASH_ACR_DCEN;
    while ((FLASH_ACR & 0xFu) != (uint32_t)BSP_FLASH_LATENCY) {
    }
    /* PPRE1 [10:8], PPRE2 [13:11]. Above 80 MHz, switch with HPRE = /2 first and wait 1 us
     * (RM0432 6.2.9 "Clock source frequency versus voltage scaling", boost transition). */
    RCC_CFGR = (RCC_CFGR & ~0x3FF0u) | (rcc_ppre_bits(BSP_APB1_DIV) << 8) | (rcc_ppre_bits(BSP_APB2_DIV) << 11) |
               ((BSP_CLOCK_HZ > 80000000u ? rcc_hpre_bits(2u) : rcc_hpre_bits(BSP_AHB_DIV)) << 4);
    RCC_CFGR = (RCC_CFGR & ~3u) | RCC_CFGR_SW_PLL;
    while ((RCC_CFGR & RCC_CFGR_SWS_MASK) != RCC_CFGR_SWS_PLL) {
    }
    if (BSP_CLOCK_HZ > 80000000u) {
        bsp_spin(BSP_CLOCK_HZ / 2000000u); /* >= 1 us at SYSCLK/2 */
        RCC_CFGR = (RCC_CFGR & ~0xF0u) | (rcc_hpre_bits(BSP_AHB_DIV) << 4);
    }
#endif
}
