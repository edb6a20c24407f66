/*
 * uart_stm32.c - STM32 USART / LPUART, polled, 8N1, 16x oversampling.
 *
 * Two register layouts:
 *  - STM32F4 (RM0090 30.6, RM0402 24.6): SR 0x00, DR 0x04, BRR 0x08, CR1 0x0C (UE = bit 13).
 *  - STM32F7/L4/H7 (RM0385 34.8, RM0432 45.8/46.7, RM0433 48.7): CR1 0x00 (UE = bit 0), BRR 0x0C,
 *    ISR 0x1C, ICR 0x20, RDR 0x24, TDR 0x28. LPUART1 (L4) has the same layout, BRR = 256*fck/baud.
 * The pins (port, number, alternate function) come from board_config.h.
 */
#include "stm32_rcc.h"

/* GPIO registers (same on F4/F7/L4/H7). */
#define GPIO_MODER(p) BSP_REG(GPIO_BASE(p) + 0x00u)   /* GPIOx_MODER: 2 bits/pin, 10 = AF */
#define GPIO_OSPEEDR(p) BSP_REG(GPIO_BASE(p) + 0x08u) /* GPIOx_OSPEEDR: 2 bits/pin, 10 = high */
#define GPIO_PUPDR(p) BSP_REG(GPIO_BASE(p) + 0x0Cu)   /* GPIOx_PUPDR: 2 bits/pin, 01 = pull-up */
#define GPIO_AFR(p, pin) BSP_REG(GPIO_BASE(p) + ((pin) < 8u ? 0x20u : 0x24u)) /* AFRL / AFRH */

#if defined(BSP_FAMILY_STM32F4)
#define USART_SR BSP_REG(BSP_UART_BASE + 0x00u)  /* USART_SR */
#define USART_DR BSP_REG(BSP_UART_BASE + 0x04u)  /* USART_DR */
#define USART_BRR BSP_REG(BSP_UART_BASE + 0x08u) /* USART_BRR */
#define USART_CR1 BSP_REG(BSP_UART_BASE + 0x0Cu) /* USART_CR1 */
#define USART_CR2 BSP_REG(BSP_UART_BASE + 0x10u) /* USART_CR2 */
#define USART_CR3 BSP_REG(BSP_UART_BASE + 0x14u) /* USART_CR3 */
#define USART_CR1_UE (1u << 13)                  /* CR1.UE: USART enable */
#define USART_STATUS USART_SR
#define USART_RX USART_DR
#define USART_TX USART_DR
#else
#define USART_CR1 BSP_REG(BSP_UART_BASE + 0x00u) /* USART_CR1 */
#define USART_CR2 BSP_REG(BSP_UART_BASE + 0x04u) /* USART_CR2 */
#define USART_CR3 BSP_REG(BSP_UART_BASE + 0x08u) /* USART_CR3 */
#define USART_BRR BSP_REG(BSP_UART_BASE + 0x0Cu) /* USART_BRR */
#define USART_ISR BSP_REG(BSP_UART_BASE + 0x1Cu) /* USART_ISR */
#define USART_ICR BSP_REG(BSP_UART_BASE + 0x20u) /* USART_ICR */
#define USART_RDR BSP_REG(BSP_UART_BASE + 0x24u) /* USART_RDR */
#define USART_TDR BSP_REG(BSP_UART_BASE + 0x28u) /* USART_TDR */
#define USART_CR1_UE (1u << 0)                   /* CR1.UE: USART enable */
#define USART_ICR_ORECF (1u << 3)                /* ICR.ORECF: clear overrun */
#define USART_STATUS USART_ISR
#define USART_RX USART_RDR
#define USART_TX USART_TDR
#endif
#define USART_CR1_RE (1u << 2)      /* CR1.RE: receiver enable */
#define USART_CR1_TE (1u << 3)      /* CR1.TE: transmitter enable */
#define USART_FLAG_ORE (1u << 3)    /* SR/ISR.ORE: overrun error */
#define USART_FLAG_RXNE (1u << 5)   /* SR/ISR.RXNE: receive data register not empty */
#define USART_FLAG_TXE (1u << 7)    /* SR/ISR.TXE: transmit data register empty */

#if BSP_UART_LPUART
/* LPUART_BRR = 256 * fck / baud (RM0432 47.4.4). */
#define USART_BRR_VALUE \
    ((uint32_t)((256ull * (uint64_t)BSP_UART_CLOCK_HZ + (uint64_t)BSP_UART_BAUD / 2u) / (uint64_t)BSP_UART_BAUD))
#else
/* 16x oversampling: BRR = USARTDIV = fck / baud (mantissa:fraction on F4 is the same number). */
#define USART_BRR_VALUE \
    ((uint32_t)(((uint32_t)BSP_UART_CLOCK_HZ + (uint32_t)BSP_UART_BAUD / 2u) / (uint32_t)BSP_UART_BAUD))
#endif

/* Peripheral clock enable for the USART at BSP_UART_BASE. */
static void uart_clock_enable(void)
{
#if defined(BSP_FAMILY_STM32L4)
#if BSP_UART_BASE == 0x40013800u
    RCC_APB2ENR |= 1u << 14; /* APB2ENR.USART1EN */
#elif BSP_UART_BASE == 0x40004400u
    RCC_APB1ENR |= 1u << 17; /* APB1ENR1.USART2EN */
#elif BSP_UART_BASE == 0x40004800u
    RCC_APB1ENR |= 1u << 18; /* APB1ENR1.USART3EN */
#elif BSP_UART_BASE == 0x40004C00u
    RCC_APB1ENR |= 1u << 19; /* APB1ENR1.UART4EN */
#elif BSP_UART_BASE == 0x40005000u
    RCC_APB1ENR |= 1u << 20; /* APB1ENR1.UART5EN */
#elif BSP_UART_BASE == 0x40008000u
    RCC_APB1ENR2 |= 1u << 0; /* APB1ENR2.LPUART1EN (kernel clock: PCLK1, CCIPR reset value) */
#else
#error "uart_stm32.c: unknown STM32L4 U(S)ART base address"
#endif
#else /* F4, F7, H7 share the instance addresses and enable bits */
#if BSP_UART_BASE == 0x40011000u
    RCC_APB2ENR |= 1u << 4; /* APB2ENR.USART1EN */
#elif BSP_UART_BASE == 0x40011400u
    RCC_APB2ENR |= 1u << 5; /* APB2ENR.USART6EN */
#elif BSP_UART_BASE == 0x40004400u
    RCC_APB1ENR |= 1u << 17; /* APB1(L)ENR.USART2EN */
#elif BSP_UART_BASE == 0x40004800u
    RCC_APB1ENR |= 1u << 18; /* APB1(L)ENR.USART3EN */
#elif BSP_UART_BASE == 0x40004C00u
    RCC_APB1ENR |= 1u << 19; /* APB1(L)ENR.UART4EN */
#elif BSP_UART_BASE == 0x40005000u
    RCC_APB1ENR |= 1u << 20; /* APB1(L)ENR.UART5EN */
#elif BSP_UART_BASE == 0x40007800u
    RCC_APB1ENR |= 1u << 30; /* APB1(L)ENR.UART7EN */
#elif BSP_UART_BASE == 0x40007C00u
    RCC_APB1ENR |= 1u << 31; /* APB1(L)ENR.UART8EN */
#else
#error "uart_stm32.c: unknown STM32 U(S)ART base address"
#endif
#endif
    (void)RCC_APB1ENR; /* read back: the enable takes effect before the first register access */
}

/* One pin to alternate function `af`, high speed, pull-up (idle-high UART lines). */
static void pin_af(uint32_t port, uint32_t pin, uint32_t af)
{
    uint32_t shift2 = 2u * pin;
    uint32_t shift4 = 4u * (pin & 7u);
    RCC_GPIOENR |= 1u << port; /* GPIOxEN */
    (void)RCC_GPIOENR;
    GPIO_AFR(port, pin) = (GPIO_AFR(port, pin) & ~(0xFu << shift4)) | (af << shift4);
    GPIO_OSPEEDR(port) = (GPIO_OSPEEDR(port) & ~(3u << shift2)) | (2u << shift2);
    GPIO_PUPDR(port) = (GPIO_PUPDR(port) & ~(3u << shift2)) | (1u << shift2);
    GPIO_MODER(port) = (GPIO_MODER(port) & ~(3u << shift2)) | (2u << shift2);
}

void bsp_uart_init(void)
{
#if defined(BSP_FAMILY_STM32L4) && (BSP_UART_TX_PORT == 6 || BSP_UART_RX_PORT == 6)
    /* Port G on the L4+ is supplied by VDDIO2: PWR_CR2.IOSV = 1 (RM0432 6.4.2), needs PWREN. */
    RCC_APB1ENR |= 1u << 28; /* APB1ENR1.PWREN */
    (void)RCC_APB1ENR;
    BSP_REG(0x40007004u) |= 1u << 9; /* PWR_CR2.IOSV */
#endif
    uart_clock_enable();
    pin_af(BSP_UART_TX_PORT, BSP_UART_TX_PIN, BSP_UART_TX_AF);
    pin_af(BSP_UART_RX_PORT, BSP_UART_RX_PIN, BSP_UART_RX_AF);
    USART_CR1 = 0u; /* disabled: 8 data bits, no parity, 16x oversampling */
    USART_CR2 = 0u; /* 1 stop bit */
    USART_CR3 = 0u; /* no flow control, no DMA */
    USART_BRR = USART_BRR_VALUE;
    USART_CR1 = USART_CR1_TE | USART_CR1_RE;
    USART_CR1 |= USART_CR1_UE;
}

void bsp_uart_putc(char c)
{
    while ((USART_STATUS & USART_FLAG_TXE) == 0u) {
    }
    USART_TX = (uint8_t)c;
}

void bsp_uart_write(const char *s, unsigned n)
{
    for (unsigned i = 0; i < n; ++i) {
        bsp_uart_putc(s[i]);
    }
}

int bsp_uart_getc(void)
{
    for (;;) {
        uint32_t status = USART_STATUS;
        if ((status & USART_FLAG_RXNE) != 0u) {
            return (int)(USART_RX & 0xFFu);
        }
        if ((status & USART_FLAG_ORE) != 0u) {
#if defined(BSP_FAMILY_STM32F4)
            (void)USART_DR; /* F4: reading SR then DR clears ORE */
#else
            USART_ICR = USART_ICR_ORECF;
#endif
        }
    }
}
