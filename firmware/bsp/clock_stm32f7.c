/*
 * clock_stm32f7.c - STM32F7 system clock: HSI 16 MHz -> main PLL -> SYSCLK = BSP_CLOCK_HZ, with
 * over-drive above 180 MHz, then the Cortex-M7 L1 caches.
 * RM0385 (F746) / RM0410 (F767): "Power controller" (over-drive), "Reset and clock control",
 * "Embedded flash memory" (ART accelerator, wait states).
 */
#include "stm32_rcc.h"

#define RCC_CR BSP_REG(RCC_BASE + 0x00u)      /* RCC_CR */
#define RCC_PLLCFGR BSP_REG(RCC_BASE + 0x04u) /* RCC_PLLCFGR */
#define RCC_CFGR BSP_REG(RCC_BASE + 0x08u)    /* RCC_CFGR */
#define RCC_CR_HSION (1u << 0)                /* CR.HSION */
#define RCC_CR_HSIRDY (1u << 1)               /* CR.HSIRDY */
#define RCC_CR_PLLON (1u << 24)               /* CR.PLLON */
#define RCC_CR_PLLRDY (1u << 25)              /* CR.PLLRDY */
#define RCC_CFGR_SW_PLL 2u                    /* CFGR.SW = 10: PLL */
#define RCC_CFGR_SWS_MASK (3u << 2)           /* CFGR.SWS */
#define RCC_CFGR_SWS_PLL (2u << 2)
#define RCC_APB1ENR_PWREN (1u << 28)          /* APB1ENR.PWREN */

#define PWR_CR1 BSP_REG(0x40007000u)          /* PWR_CR1 */
#define PWR_CSR1 BSP_REG(0x40007004u)         /* PWR_CSR1 */
#define PWR_CR1_VOS_SCALE1 (3u << 14)         /* CR1.VOS = 11: scale 1 */
#define PWR_CR1_ODEN (1u << 16)               /* CR1.ODEN: over-drive enable */
#define PWR_CR1_ODSWEN (1u << 17)             /* CR1.ODSWEN: over-drive switching enable */
#define PWR_CSR1_ODRDY (1u << 16)             /* CSR1.ODRDY */
#define PWR_CSR1_ODSWRDY (1u << 17)           /* CSR1.ODSWRDY */

#define FLASH_ACR BSP_REG(0x40023C00u)        /* FLASH_ACR */
#define FLASH_ACR_PRFTEN (1u << 8)            /* ACR.PRFTEN: prefetch */
#define FLASH_ACR_ARTEN (1u << 9)             /* ACR.ARTEN: ART accelerator */

void bsp_caches_enable(void);

void bsp_clock_init(void)
{
#if !BSP_EMULATED
    RCC_APB1ENR |= RCC_APB1ENR_PWREN;
    (void)RCC_APB1ENR;
    PWR_CR1 = (PWR_CR1 & ~(3u << 14)) | PWR_CR1_VOS_SCALE1;

    RCC_CR |= RCC_CR_HSION;
    while ((RCC_CR & RCC_CR_HSIRDY) == 0u) {
    }
    /* PLLM [5:0], PLLN [14:6], PLLP [17:16] = P/2-1, PLLSRC [22] = 0 (HSI), PLLQ [27:24];
     * bits 31:28 (PLLR on F76x) keep their reset value. */
    RCC_CR &= ~RCC_CR_PLLON;
    RCC_PLLCFGR = (RCC_PLLCFGR & 0xF0000000u) | ((uint32_t)BSP_PLL_M << 0) | ((uint32_t)BSP_PLL_N << 6) |
                  ((((uint32_t)BSP_PLL_P / 2u) - 1u) << 16) | ((uint32_t)BSP_PLL_Q << 24);
    RCC_CR |= RCC_CR_PLLON;
    while ((RCC_CR & RCC_CR_PLLRDY) == 0u) {
    }
#if BSP_STM32_OVERDRIVE
    /* Over-drive (RM0385 4.1.4): ODEN, wait ODRDY, ODSWEN, wait ODSWRDY. */
    PWR_CR1 |= PWR_CR1_ODEN;
    while ((PWR_CSR1 & PWR_CSR1_ODRDY) == 0u) {
    }
    PWR_CR1 |= PWR_CR1_ODSWEN;
    while ((PWR_CSR1 & PWR_CSR1_ODSWRDY) == 0u) {
    }
#endif
    FLASH_ACR = (uint32_t)BSP_FLASH_LATENCY | FLASH_ACR_PRFTEN | FLASH_ACR_ARTEN;
    while ((FLASH_ACR & 0xFu) != (uint32_t)BSP_FLASH_LATENCY) {
    }
    /* HPRE [7:4], PPRE1 [12:10], PPRE2 [15:13], then SW [1:0] = PLL. */
    RCC_CFGR = (RCC_CFGR & ~0xFCF3u) | (rcc_hpre_bits(BSP_AHB_DIV) << 4) | (rcc_ppre_bits(BSP_APB1_DIV) << 10) |
               (rcc_ppre_bits(BSP_APB2_DIV) << 13);
    RCC_CFGR = (RCC_CFGR & ~3u) | RCC_CFGR_SW_PLL;
    while ((RCC_CFGR & RCC_CFGR_SWS_MASK) != RCC_CFGR_SWS_PLL) {
    }
    bsp_caches_enable();
#endif
}
