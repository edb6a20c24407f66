/*
 * uart_cmsdk.c - Arm CMSDK APB UART (MPS2 FPGA images AN385/AN386/AN500; QEMU "cmsdk-apb-uart").
 * Register map: Arm Cortex-M System Design Kit TRM (DDI 0479), "APB UART".
 */
#include "bsp_internal.h"

#define UART_DATA BSP_REG(BSP_UART_BASE + 0x000u)     /* DATA: TX write / RX read */
#define UART_STATE BSP_REG(BSP_UART_BASE + 0x004u)    /* STATE */
#define UART_CTRL BSP_REG(BSP_UART_BASE + 0x008u)     /* CTRL */
#define UART_BAUDDIV BSP_REG(BSP_UART_BASE + 0x010u)  /* BAUDDIV: >= 16 */
#define UART_STATE_TXFULL (1u << 0)                  /* STATE.TX buffer full */
#define UART_STATE_RXFULL (1u << 1)                  /* STATE.RX buffer full */
#define UART_STATE_RXOVR (1u << 3)                   /* STATE.RX buffer overrun (write 1 clears) */
#define UART_CTRL_TXEN (1u << 0)                     /* CTRL.TX enable */
#define UART_CTRL_RXEN (1u << 1)                     /* CTRL.RX enable */

/* BAUDDIV = PCLK / baud (the UART's clock is the system clock on MPS2). */
#define UART_DIV (((uint32_t)BSP_UART_CLOCK_HZ + (uint32_t)BSP_UART_BAUD / 2u) / (uint32_t)BSP_UART_BAUD)

void bsp_uart_init(void)
{
    UART_CTRL = 0u;
    UART_BAUDDIV = UART_DIV < 16u ? 16u : UART_DIV;
    UART_CTRL = UART_CTRL_TXEN | UART_CTRL_RXEN;
}

void bsp_uart_putc(char c)
{
    while ((UART_STATE & UART_STATE_TXFULL) != 0u) {
    }
    UART_DATA = (uint8_t)c;
}

void bsp_uart_write(const char *s, unsigned n)
{
    for (unsigned i = 0; i < n; ++i) {
        bsp_uart_putc(s[i]);
    }
}

int bsp_uart_getc(void)
{
    while ((UART_STATE & UART_STATE_RXFULL) == 0u) {
    }
    if ((UART_STATE & UART_STATE_RXOVR) != 0u) {
        UART_STATE = UART_STATE_RXOVR;
    }
    return (int)(UART_DATA & 0xFFu);
}
