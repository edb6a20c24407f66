/*
 * clock_stm32f4.c - STM32F4 system clock: HSI 16 MHz -> main PLL -> SYSCLK = BSP_CLOCK_HZ.
 * RM0090 (F405/F407) and RM0402 (F412), chapters "Reset and clock control" and "Embedded flash
 * memory interface". PLL factors, bus prescalers and flash wait states are computed by ofa-mcu
 * (ofa_mcu/firmware/project.py) and arrive in board_config.h.
 *
 * BSP_EMULATED: QEMU's STM32F405 model has no RCC (unimplemented device, reads 0), so the PLL
 * would never report ready; the emulated build leaves the clock alone.
 */
#include "stm32_rcc.h"

#define RCC_CR BSP_REG(RCC_BASE + 0x00u)      /* RCC_CR */
#define RCC_PLLCFGR BSP_REG(RCC_BASE + 0x04u) /* RCC_PLLCFGR */
#define RCC_CFGR BSP_REG(RCC_BASE + 0x08u)    /* RCC_CFGR */
#define RCC_CR_HSION (1u << 0)                /* CR.HSION */
#define RCC_CR_HSIRDY (1u << 1)               /* CR.HSIRDY */
#define RCC_CR_PLLON (1u << 24)               /* CR.PLLON */
#define RCC_CR_PLLRDY (1u << 25)              /* CR.PLLRDY */
#define RCC_CFGR_SW_PLL 2u                    /* CFGR.SW = 10: PLL selected as system clock */
#define RCC_CFGR_SWS_MASK (3u << 2)           /* CFGR.SWS */
#define RCC_CFGR_SWS_PLL (2u << 2)
#define RCC_APB1ENR_PWREN (1u << 28)          /* APB1ENR.PWREN */

#define PWR_CR BSP_REG(0x40007000u)           /* PWR_CR */
#define PWR_CR_VOS_SHIFT 14u                  /* PWR_CR.VOS: bit 14 (F40x) or bits 15:14 */

#define FLASH_ACR BSP_REG(0x40023C00u)        /* FLASH_ACR */
#define FLASH_ACR_PRFTEN (1u << 8)            /* ACR.PRFTEN: prefetch */
#define FLASH_ACR_ICEN (1u << 9)              /* ACR.ICEN: instruction cache */
#define FLASH_ACR_DCEN (1u << 10)             /* ACR.DCEN: data cache */

void bsp_clock_init(void)
{
#if !BSP_EMULATED
    /* Voltage scale 1 (highest performance), needed above 144 MHz (F40x) / 84 MHz (F41x). */
    RCC_APB1ENR |= RCC_APB1ENR_PWREN;
    (void)RCC_APB1ENR;
#if BSP_STM32_VOS_2BIT
    PWR_CR = (PWR_CR & ~(3u << PWR_CR_VOS_SHIFT)) | (3u << PWR_CR_VOS_SHIFT); /* VOS = 11: scale 1 */
#else
    PWR_CR |= 1u << PWR_CR_VOS_SHIFT; /* VOS = 1: scale 1 */
#endif

    RCC_CR |= RCC_CR_HSION;
    while ((RCC_CR & RCC_CR_HSIRDY) == 0u) {
    }
    /* PLLM [5:0], PLLN [14:6], PLLP [17:16] = P/2-1, PLLSRC [22] = 0 (HSI), PLLQ [27:24]; bits 31:28
     * (PLLR on F412) keep their reset value. */
    RCC_CR &= ~RCC_CR_PLLON;
    RCC_PLLCFGR = (RCC_PLLCFGR & 0xF0000000u) | ((uint32_t)BSP_PLL_M << 0) | ((uint32_t)BSP_PLL_N << 6) |
                  ((((uint32_t)BSP_PLL_P / 2u) - 1u) << 16) | ((uint32_t)BSP_PLL_Q << 24);
    RCC_CR |= RCC_CR_PLLON;
    while ((RCC_CR & RCC_CR_PLLRDY) == 0u) {
    }
    /* Flash wait states before the clock goes up (RM0090 3.5.1). */
    FLASH_ACR = (uint32_t)BSP_FLASH_LATENCY | FLASH_ACR_PRFTEN | FLASH_ACR_ICEN | FLASH_ACR_DCEN;
    while ((FLASH_ACR & 0xFu) != (uint32_t)BSP_FLASH_LATENCY) {
    }
    /* HPRE [7:4], PPRE1 [12:10], PPRE2 [15:13], then SW [1:0] = PLL. */
    RCC_CFGR = (RCC_CFGR & ~0xFCF3u) | (rcc_hpre_bits(BSP_AHB_DIV) << 4) | (rcc_ppre_bits(BSP_APB1_DIV) << 10) |
               (rcc_ppre_bits(BSP_APB2_DIV) << 13);
    RCC_CFGR = (RCC_CFGR & ~3u) | RCC_CFGR_SW_PLL;
    while ((RCC_CFGR & RCC_CFGR_SWS_MASK) != RCC_CFGR_SWS_PLL) {
    }
#endif
}
