/*
 * clock_stm32h7.c - STM32H7 (H743/H753) system clock: LDO supply, voltage scale, HSI 64 MHz ->
 * PLL1 (P output) -> SYS_CK = BSP_CLOCK_HZ, bus prescalers, flash wait states, D2 SRAM clocks,
 * then the Cortex-M7 L1 caches. RM0433: "Power control" (PWR_CR3, PWR_D3CR, VOS0 through
 * SYSCFG_PWRCR.ODEN), "Reset and clock control" (RCC_PLLCKSELR, RCC_PLLCFGR, RCC_PLL1DIVR,
 * RCC_D1CFGR/D2CFGR/D3CFGR), "Embedded flash memory" (FLASH_ACR).
 */
#include "stm32_rcc.h"

#define RCC_CR BSP_REG(RCC_BASE + 0x000u)        /* RCC_CR */
#define RCC_CFGR BSP_REG(RCC_BASE + 0x010u)      /* RCC_CFGR */
#define RCC_D1CFGR BSP_REG(RCC_BASE + 0x018u)    /* RCC_D1CFGR */
#define RCC_D2CFGR BSP_REG(RCC_BASE + 0x01Cu)    /* RCC_D2CFGR */
#define RCC_D3CFGR BSP_REG(RCC_BASE + 0x020u)    /* RCC_D3CFGR */
#define RCC_PLLCKSELR BSP_REG(RCC_BASE + 0x028u) /* RCC_PLLCKSELR */
#define RCC_PLLCFGR BSP_REG(RCC_BASE + 0x02Cu)   /* RCC_PLLCFGR */
#define RCC_PLL1DIVR BSP_REG(RCC_BASE + 0x030u)  /* RCC_PLL1DIVR */
#define RCC_AHB2ENR BSP_REG(RCC_BASE + 0x0DCu)   /* RCC_AHB2ENR */
#define RCC_APB4ENR BSP_REG(RCC_BASE + 0x0F4u)   /* RCC_APB4ENR */
#define RCC_CR_HSION (1u << 0)                   /* CR.HSION */
#define RCC_CR_HSIRDY (1u << 2)                  /* CR.HSIRDY */
#define RCC_CR_HSIDIV_MASK (3u << 3)             /* CR.HSIDIV = 00: 64 MHz */
#define RCC_CR_PLL1ON (1u << 24)                 /* CR.PLL1ON */
#define RCC_CR_PLL1RDY (1u << 25)                /* CR.PLL1RDY */
#define RCC_CFGR_SW_PLL1 3u                      /* CFGR.SW = 011: PLL1 */
#define RCC_CFGR_SWS_MASK (7u << 3)              /* CFGR.SWS */
#define RCC_CFGR_SWS_PLL1 (3u << 3)
#define RCC_PLLCFGR_PLL1RGE_8_16 (3u << 2)       /* PLLCFGR.PLL1RGE = 11: ref 8..16 MHz */
#define RCC_PLLCFGR_DIVP1EN (1u << 16)           /* PLLCFGR.DIVP1EN */
#define RCC_PLLCFGR_DIVQ1EN (1u << 17)           /* PLLCFGR.DIVQ1EN */
#define RCC_PLLCFGR_DIVR1EN (1u << 18)           /* PLLCFGR.DIVR1EN */
#define RCC_AHB2ENR_SRAM123EN (7u << 29)         /* AHB2ENR.SRAM1EN/SRAM2EN/SRAM3EN */
#define RCC_APB4ENR_SYSCFGEN (1u << 1)           /* APB4ENR.SYSCFGEN */

#define PWR_CSR1 BSP_REG(0x58024804u)            /* PWR_CSR1 */
#define PWR_CR3 BSP_REG(0x5802480Cu)             /* PWR_CR3 */
#define PWR_D3CR BSP_REG(0x58024818u)            /* PWR_D3CR */
#define PWR_CSR1_ACTVOSRDY (1u << 13)            /* CSR1.ACTVOSRDY */
#define PWR_CR3_BYPASS (1u << 0)                 /* CR3.BYPASS */
#define PWR_CR3_LDOEN (1u << 1)                  /* CR3.LDOEN */
#define PWR_D3CR_VOS_MASK (3u << 14)             /* D3CR.VOS: 11 = VOS1 (also needed for VOS0) */
#define PWR_D3CR_VOSRDY (1u << 13)               /* D3CR.VOSRDY */
#define SYSCFG_PWRCR BSP_REG(0x5800402Cu)        /* SYSCFG_PWRCR */
#define SYSCFG_PWRCR_ODEN (1u << 0)              /* PWRCR.ODEN: VOS0 (over-drive) */

#define FLASH_ACR BSP_REG(0x52002000u)           /* FLASH_ACR: LATENCY [3:0], WRHIGHFREQ [5:4] */

void bsp_caches_enable(void);

void bsp_clock_init(void)
{
#if !BSP_EMULATED
    /* Supply: LDO (Nucleo-H743ZI), written once after reset; wait for the VOS level to apply. */
    PWR_CR3 = (PWR_CR3 & ~PWR_CR3_BYPASS) | PWR_CR3_LDOEN;
    while ((PWR_CSR1 & PWR_CSR1_ACTVOSRDY) == 0u) {
    }
    PWR_D3CR |= PWR_D3CR_VOS_MASK; /* VOS1 */
    while ((PWR_D3CR & PWR_D3CR_VOSRDY) == 0u) {
    }
#if BSP_STM32_H7_VOS0
    RCC_APB4ENR |= RCC_APB4ENR_SYSCFGEN;
    (void)RCC_APB4ENR;
    SYSCFG_PWRCR |= SYSCFG_PWRCR_ODEN; /* VOS0 */
    while ((PWR_D3CR & PWR_D3CR_VOSRDY) == 0u) {
    }
#endif

    RCC_CR = (RCC_CR & ~RCC_CR_HSIDIV_MASK) | RCC_CR_HSION;
    while ((RCC_CR & RCC_CR_HSIRDY) == 0u) {
    }
    RCC_CR &= ~RCC_CR_PLL1ON;
    while ((RCC_CR & RCC_CR_PLL1RDY) != 0u) {
    }
    /* PLLSRC [1:0] = 00 (HSI), DIVM1 [9:4]. */
    RCC_PLLCKSELR = (RCC_PLLCKSELR & ~0x3F3u) | ((uint32_t)BSP_PLL_M << 4);
    /* PLL1: wide VCO (PLL1VCOSEL = 0), integer mode (PLL1FRACEN = 0), P/Q/R outputs on. */
    RCC_PLLCFGR = (RCC_PLLCFGR & ~0x7000Fu) | RCC_PLLCFGR_PLL1RGE_8_16 | RCC_PLLCFGR_DIVP1EN |
                  RCC_PLLCFGR_DIVQ1EN | RCC_PLLCFGR_DIVR1EN;
    /* DIVN1 [8:0] = N-1, DIVP1 [15:9] = P-1, DIVQ1 [22:16] = Q-1, DIVR1 [30:24] = R-1. */
    RCC_PLL1DIVR = ((uint32_t)BSP_PLL_N - 1u) | (((uint32_t)BSP_PLL_P - 1u) << 9) |
                   (((uint32_t)BSP_PLL_Q - 1u) << 16) | (((uint32_t)BSP_PLL_R - 1u) << 24);
    RCC_CR |= RCC_CR_PLL1ON;
    while ((RCC_CR & RCC_CR_PLL1RDY) == 0u) {
    }

    FLASH_ACR = (FLASH_ACR & ~0x3Fu) | (uint32_t)BSP_FLASH_LATENCY | ((uint32_t)BSP_STM32_H7_WRHIGHFREQ << 4);
    while ((FLASH_ACR & 0xFu) != (uint32_t)BSP_FLASH_LATENCY) {
    }
    /* D1CPRE [11:8] = /1, D1PPRE [6:4] (APB3), HPRE [3:0] (AXI/AHB); D2PPRE1 [6:4] (APB1),
     * D2PPRE2 [10:8] (APB2); D3PPRE [6:4] (APB4). */
    RCC_D1CFGR = (rcc_ppre_bits(BSP_APB3_DIV) << 4) | rcc_hpre_bits(BSP_AHB_DIV);
    RCC_D2CFGR = (rcc_ppre_bits(BSP_APB1_DIV) << 4) | (rcc_ppre_bits(BSP_APB2_DIV) << 8);
    RCC_D3CFGR = rcc_ppre_bits(BSP_APB4_DIV) << 4;
    RCC_CFGR = (RCC_CFGR & ~7u) | RCC_CFGR_SW_PLL1;
    while ((RCC_CFGR & RCC_CFGR_SWS_MASK) != RCC_CFGR_SWS_PLL1) {
    }
    /* D2 SRAM1/2/3 are not clocked after reset. */
    RCC_AHB2ENR |= RCC_AHB2ENR_SRAM123EN;
    (void)RCC_AHB2ENR;
    bsp_caches_enable();
#endif
}
