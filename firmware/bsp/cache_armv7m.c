/*
 * cache_armv7m.c - Cortex-M7 L1 instruction and data cache enable (ARMv7-M ARM B2.2.7 "Cache
 * maintenance operations", Cortex-M7 TRM 4.1 "Cache"). Called by the STM32F7/H7 clock code.
 * Safe without DMA (the UART drivers here poll).
 */
#include "bsp_internal.h"

#define SCB_CCSIDR BSP_REG(0xE000ED80u)  /* Cache Size ID Register */
#define SCB_CSSELR BSP_REG(0xE000ED84u)  /* Cache Size Selection Register */
#define SCB_ICIALLU BSP_REG(0xE000EF50u) /* ICIALLU: invalidate all I-cache to PoU */
#define SCB_DCISW BSP_REG(0xE000EF60u)   /* DCISW: invalidate D-cache line by set/way */

void bsp_caches_enable(void);

void bsp_caches_enable(void)
{
    uint32_t ccsidr;
    uint32_t sets;
    uint32_t ways;
    uint32_t set_shift;
    uint32_t way_shift;

    if ((SCB_CCR & SCB_CCR_IC) == 0u) {
        BSP_DSB();
        BSP_ISB();
        SCB_ICIALLU = 0u;
        BSP_DSB();
        BSP_ISB();
        SCB_CCR |= SCB_CCR_IC;
        BSP_DSB();
        BSP_ISB();
    }
    if ((SCB_CCR & SCB_CCR_DC) == 0u) {
        SCB_CSSELR = 0u; /* level 1 data cache */
        BSP_DSB();
        ccsidr = SCB_CCSIDR;
        sets = ((ccsidr >> 13) & 0x7FFFu) + 1u;      /* CCSIDR.NumSets + 1 */
        ways = ((ccsidr >> 3) & 0x3FFu) + 1u;        /* CCSIDR.Associativity + 1 */
        set_shift = (ccsidr & 7u) + 4u;               /* log2(line bytes) = LineSize + 4 */
        way_shift = ways > 1u ? (uint32_t)__builtin_clz(ways - 1u) : 0u;
        for (uint32_t set = 0; set < sets; ++set) {
            for (uint32_t way = 0; way < ways; ++way) {
                SCB_DCISW = (way << way_shift) | (set << set_shift);
            }
        }
        BSP_DSB();
        SCB_CCR |= SCB_CCR_DC;
        BSP_DSB();
        BSP_ISB();
    }
}
