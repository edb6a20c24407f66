/*
 * stm32_rcc.h - STM32 reset-and-clock-control helpers shared by the STM32 clock and USART files:
 * RCC/GPIO block addresses per family and the prescaler field encodings.
 * Sources: RM0090 (F405/F407), RM0402 (F412), RM0385 (F746), RM0410 (F767), RM0432 (L4R5),
 * RM0433 (H743), chapters "Reset and clock control" and "General-purpose I/Os".
 */
#ifndef OFA_STM32_RCC_H
#define OFA_STM32_RCC_H

#include "bsp_internal.h"

#if defined(BSP_FAMILY_STM32F4) || defined(BSP_FAMILY_STM32F7)
#define RCC_BASE 0x40023800u            /* RCC */
#define RCC_GPIOENR BSP_REG(RCC_BASE + 0x30u)  /* RCC_AHB1ENR: GPIOxEN = bit x */
#define RCC_APB1ENR BSP_REG(RCC_BASE + 0x40u)  /* RCC_APB1ENR */
#define RCC_APB2ENR BSP_REG(RCC_BASE + 0x44u)  /* RCC_APB2ENR */
#define GPIO_BASE(port) (0x40020000u + 0x400u * (uint32_t)(port)) /* GPIOA..GPIOK */
#elif defined(BSP_FAMILY_STM32L4)
#define RCC_BASE 0x40021000u            /* RCC */
#define RCC_GPIOENR BSP_REG(RCC_BASE + 0x4Cu)  /* RCC_AHB2ENR: GPIOxEN = bit x */
#define RCC_APB1ENR BSP_REG(RCC_BASE + 0x58u)  /* RCC_APB1ENR1 */
#define RCC_APB1ENR2 BSP_REG(RCC_BASE + 0x5Cu) /* RCC_APB1ENR2: LPUART1EN = bit 0 */
#define RCC_APB2ENR BSP_REG(RCC_BASE + 0x60u)  /* RCC_APB2ENR */
#define GPIO_BASE(port) (0x48000000u + 0x400u * (uint32_t)(port)) /* GPIOA..GPIOI */
#elif defined(BSP_FAMILY_STM32H7)
#define RCC_BASE 0x58024400u            /* RCC */
#define RCC_GPIOENR BSP_REG(RCC_BASE + 0xE0u)  /* RCC_AHB4ENR: GPIOxEN = bit x */
#define RCC_APB1ENR BSP_REG(RCC_BASE + 0xE8u)  /* RCC_APB1LENR */
#define RCC_APB2ENR BSP_REG(RCC_BASE + 0xF0u)  /* RCC_APB2ENR */
#define GPIO_BASE(port) (0x58020000u + 0x400u * (uint32_t)(port)) /* GPIOA..GPIOK */
#else
#error "stm32_rcc.h: not an STM32 family"
#endif

/* PPREx field (3 bits): 0xx = /1, 100 = /2, 101 = /4, 110 = /8, 111 = /16. */
static inline uint32_t rcc_ppre_bits(uint32_t div)
{
    return div >= 16u ? 7u : div >= 8u ? 6u : div >= 4u ? 5u : div >= 2u ? 4u : 0u;
}

/* HPRE field (4 bits): 0xxx = /1, 1000 = /2, 1001 = /4, 1010 = /8, 1011 = /16. */
static inline uint32_t rcc_hpre_bits(uint32_t div)
{
    return div >= 16u ? 11u : div >= 8u ? 10u : div >= 4u ? 9u : div >= 2u ? 8u : 0u;
}

#endif /* OFA_STM32_RCC_H */
