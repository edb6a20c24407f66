/*
 * uart_nrf51.c - nRF51 UART (no EasyDMA): BBC micro:bit v1, QEMU "microbit".
 * Register map: nRF51 Series Reference Manual v3.0, chapter 29 "UART".
 */
#include "bsp_internal.h"

#define UART_TASKS_STARTRX BSP_REG(BSP_UART_BASE + 0x000u) /* TASKS_STARTRX */
#define UART_TASKS_STARTTX BSP_REG(BSP_UART_BASE + 0x008u) /* TASKS_STARTTX */
#define UART_EVENTS_RXDRDY BSP_REG(BSP_UART_BASE + 0x108u) /* EVENTS_RXDRDY: byte in RXD */
#define UART_EVENTS_TXDRDY BSP_REG(BSP_UART_BASE + 0x11Cu) /* EVENTS_TXDRDY: TXD sent */
#define UART_EVENTS_ERROR BSP_REG(BSP_UART_BASE + 0x124u)  /* EVENTS_ERROR */
#define UART_ERRORSRC BSP_REG(BSP_UART_BASE + 0x480u)      /* ERRORSRC (write 1 clears) */
#define UART_ENABLE BSP_REG(BSP_UART_BASE + 0x500u)        /* ENABLE: 4 = enabled */
#define UART_PSELTXD BSP_REG(BSP_UART_BASE + 0x50Cu)       /* PSELTXD: pin number */
#define UART_PSELRXD BSP_REG(BSP_UART_BASE + 0x514u)       /* PSELRXD: pin number */
#define UART_RXD BSP_REG(BSP_UART_BASE + 0x518u)           /* RXD */
#define UART_TXD BSP_REG(BSP_UART_BASE + 0x51Cu)           /* TXD */
#define UART_BAUDRATE BSP_REG(BSP_UART_BASE + 0x524u)      /* BAUDRATE */
#define UART_CONFIG BSP_REG(BSP_UART_BASE + 0x56Cu)        /* CONFIG: HWFC off, no parity */
#define UART_ENABLE_ENABLED 4u

/* GPIO (nRF51 RM chapter 14): the TX pin is an output driven high while idle. */
#define GPIO_OUTSET BSP_REG(0x50000508u)         /* OUTSET */
#define GPIO_PIN_CNF(n) BSP_REG(0x50000700u + 4u * (uint32_t)(n)) /* PIN_CNF[n] */
#define GPIO_PIN_CNF_OUTPUT 1u                    /* DIR = Output, INPUT = Connect */
#define GPIO_PIN_CNF_INPUT 0u                     /* DIR = Input, INPUT = Connect */

void bsp_uart_init(void)
{
    GPIO_OUTSET = 1u << BSP_UART_TX_PIN;
    GPIO_PIN_CNF(BSP_UART_TX_PIN) = GPIO_PIN_CNF_OUTPUT;
    GPIO_PIN_CNF(BSP_UART_RX_PIN) = GPIO_PIN_CNF_INPUT;
    UART_PSELTXD = BSP_UART_TX_PIN;
    UART_PSELRXD = BSP_UART_RX_PIN;
    UART_CONFIG = 0u;
    UART_BAUDRATE = BSP_UART_NRF_BAUDRATE;
    UART_ENABLE = UART_ENABLE_ENABLED;
    UART_EVENTS_TXDRDY = 0u;
    UART_EVENTS_RXDRDY = 0u;
    UART_TASKS_STARTTX = 1u;
    UART_TASKS_STARTRX = 1u;
}

void bsp_uart_putc(char c)
{
    UART_TXD = (uint8_t)c;
    while (UART_EVENTS_TXDRDY == 0u) {
    }
    UART_EVENTS_TXDRDY = 0u;
}

void bsp_uart_write(const char *s, unsigned n)
{
    for (unsigned i = 0; i < n; ++i) {
        bsp_uart_putc(s[i]);
    }
}

int bsp_uart_getc(void)
{
    while (UART_EVENTS_RXDRDY == 0u) {
        if (UART_EVENTS_ERROR != 0u) { /* overrun/framing: clear and keep receiving */
            UART_EVENTS_ERROR = 0u;
            UART_ERRORSRC = UART_ERRORSRC;
        }
    }
    /* Clear the event before reading RXD: reading pops the FIFO and re-raises RXDRDY if more. */
    UART_EVENTS_RXDRDY = 0u;
    return (int)(UART_RXD & 0xFFu);
}
