/*
 * uarte_nrf5x.c - nRF52 / nRF53 UARTE (UART with EasyDMA), polled.
 * Register map: nRF52840 Product Specification v1.7, 6.34 "UARTE"; nRF5340 Product
 * Specification v1.3, 7.43 "UARTE" (same register offsets).
 *
 * EasyDMA reads and writes RAM only, so output is staged through a RAM buffer. Reception: a
 * one-byte buffer is re-armed (STARTRX) right after each ENDRX; bytes that arrive in between
 * wait in the UARTE's RX FIFO. The host protocol sends one command and waits for the reply, so
 * the FIFO never fills.
 */
#include "bsp_internal.h"

#define UARTE_TASKS_STARTRX BSP_REG(BSP_UART_BASE + 0x000u) /* TASKS_STARTRX */
#define UARTE_TASKS_STARTTX BSP_REG(BSP_UART_BASE + 0x008u) /* TASKS_STARTTX */
#define UARTE_EVENTS_ENDRX BSP_REG(BSP_UART_BASE + 0x110u)  /* EVENTS_ENDRX: RX buffer full */
#define UARTE_EVENTS_ENDTX BSP_REG(BSP_UART_BASE + 0x120u)  /* EVENTS_ENDTX: TX buffer sent */
#define UARTE_EVENTS_ERROR BSP_REG(BSP_UART_BASE + 0x124u)  /* EVENTS_ERROR */
#define UARTE_ERRORSRC BSP_REG(BSP_UART_BASE + 0x480u)      /* ERRORSRC (write 1 clears) */
#define UARTE_ENABLE BSP_REG(BSP_UART_BASE + 0x500u)        /* ENABLE: 8 = UARTE */
#define UARTE_PSEL_TXD BSP_REG(BSP_UART_BASE + 0x50Cu)      /* PSEL.TXD */
#define UARTE_PSEL_RXD BSP_REG(BSP_UART_BASE + 0x514u)      /* PSEL.RXD */
#define UARTE_BAUDRATE BSP_REG(BSP_UART_BASE + 0x524u)      /* BAUDRATE */
#define UARTE_RXD_PTR BSP_REG(BSP_UART_BASE + 0x534u)       /* RXD.PTR */
#define UARTE_RXD_MAXCNT BSP_REG(BSP_UART_BASE + 0x538u)    /* RXD.MAXCNT */
#define UARTE_TXD_PTR BSP_REG(BSP_UART_BASE + 0x544u)       /* TXD.PTR */
#define UARTE_TXD_MAXCNT BSP_REG(BSP_UART_BASE + 0x548u)    /* TXD.MAXCNT */
#define UARTE_CONFIG BSP_REG(BSP_UART_BASE + 0x56Cu)        /* CONFIG: HWFC off, no parity */
#define UARTE_ENABLE_UARTE 8u
/* PSEL.x: PIN [4:0], PORT [5], CONNECT [31] (0 = connected). */
#define UARTE_PSEL(port, pin) (((uint32_t)(port) << 5) | (uint32_t)(pin))

/*
 * GPIO port register blocks, addressed so that OUTSET is at +0x508 and PIN_CNF[n] at +0x700:
 * nRF52840 P0 0x50000000 / P1 0x50000300; nRF5340 application core, secure alias,
 * P0 0x50842500 / P1 0x50842800 (whose OUTSET is at +0x008 and PIN_CNF at +0x200).
 */
#if defined(BSP_FAMILY_NRF53)
#define GPIO_PORT_BLOCK(port) ((port) == 0 ? 0x50842000u : 0x50842300u)
#else
#define GPIO_PORT_BLOCK(port) ((port) == 0 ? 0x50000000u : 0x50000300u)
#endif
#define GPIO_OUTSET(port) BSP_REG(GPIO_PORT_BLOCK(port) + 0x508u)                 /* OUTSET */
#define GPIO_PIN_CNF(port, n) BSP_REG(GPIO_PORT_BLOCK(port) + 0x700u + 4u * (uint32_t)(n)) /* PIN_CNF */
#define GPIO_PIN_CNF_OUTPUT 1u /* DIR = Output, INPUT = Connect, PULL = disabled */
#define GPIO_PIN_CNF_INPUT 0u  /* DIR = Input, INPUT = Connect */

#define TX_CHUNK 64u
static uint8_t s_tx[TX_CHUNK]; /* EasyDMA can only read RAM */
static volatile uint8_t s_rx;  /* one-byte EasyDMA receive buffer */

static void rx_arm(void)
{
    UARTE_RXD_PTR = (uint32_t)(uintptr_t)&s_rx;
    UARTE_RXD_MAXCNT = 1u;
    UARTE_TASKS_STARTRX = 1u;
}

void bsp_uart_init(void)
{
    GPIO_OUTSET(BSP_UART_TX_PORT) = 1u << BSP_UART_TX_PIN;
    GPIO_PIN_CNF(BSP_UART_TX_PORT, BSP_UART_TX_PIN) = GPIO_PIN_CNF_OUTPUT;
    GPIO_PIN_CNF(BSP_UART_RX_PORT, BSP_UART_RX_PIN) = GPIO_PIN_CNF_INPUT;
    UARTE_PSEL_TXD = UARTE_PSEL(BSP_UART_TX_PORT, BSP_UART_TX_PIN);
    UARTE_PSEL_RXD = UARTE_PSEL(BSP_UART_RX_PORT, BSP_UART_RX_PIN);
    UARTE_CONFIG = 0u;
    UARTE_BAUDRATE = BSP_UART_NRF_BAUDRATE;
    UARTE_ENABLE = UARTE_ENABLE_UARTE;
    UARTE_EVENTS_ENDRX = 0u;
    UARTE_EVENTS_ENDTX = 0u;
    rx_arm();
}

void bsp_uart_write(const char *s, unsigned n)
{
    while (n > 0u) {
        unsigned k = n < TX_CHUNK ? n : TX_CHUNK;
        for (unsigned i = 0; i < k; ++i) {
            s_tx[i] = (uint8_t)s[i];
        }
        UARTE_TXD_PTR = (uint32_t)(uintptr_t)s_tx;
        UARTE_TXD_MAXCNT = k;
        UARTE_EVENTS_ENDTX = 0u;
        UARTE_TASKS_STARTTX = 1u;
        while (UARTE_EVENTS_ENDTX == 0u) {
        }
        UARTE_EVENTS_ENDTX = 0u;
        s += k;
        n -= k;
    }
}

void bsp_uart_putc(char c)
{
    bsp_uart_write(&c, 1u);
}

int bsp_uart_getc(void)
{
    int c;
    while (UARTE_EVENTS_ENDRX == 0u) {
        if (UARTE_EVENTS_ERROR != 0u) { /* overrun/framing: clear and keep receiving */
            UARTE_EVENTS_ERROR = 0u;
            UARTE_ERRORSRC = UARTE_ERRORSRC;
        }
    }
    UARTE_EVENTS_ENDRX = 0u;
    c = (int)s_rx;
    rx_arm();
    return c;
}
