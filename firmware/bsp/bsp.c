/*
 * bsp.c - the family-independent part of the BSP: bsp_init() sequencing, byte/string output on
 * top of the UART driver, and the board facts from board_config.h.
 */
#include "bsp_internal.h"

static int s_ready; /* 1 once bsp_init() has brought the UART up */

void bsp_init(void)
{
    if (s_ready) {
        return;
    }
    bsp_clock_init();
    bsp_uart_init();
    bsp_cycles_init();
    bsp_timestamp_init();
    s_ready = 1;
}

void bsp_putc(char c)
{
    if (s_ready) {
        bsp_uart_putc(c);
    }
}

void bsp_write(const char *s, unsigned n)
{
    if (s_ready && n > 0u) {
        bsp_uart_write(s, n);
    }
}

void bsp_puts(const char *s)
{
    unsigned n = 0;
    while (s[n] != '\0') {
        ++n;
    }
    bsp_write(s, n);
}

int bsp_getc(void)
{
    if (!s_ready) {
        bsp_init();
    }
    return bsp_uart_getc();
}

uint32_t bsp_clock_hz(void)
{
    return (uint32_t)BSP_CLOCK_HZ;
}

const char *bsp_board_name(void)
{
    return BSP_BOARD_NAME;
}

const char *bsp_core_name(void)
{
    return BSP_CORE_NAME;
}

int bsp_emulated(void)
{
    return BSP_EMULATED ? 1 : 0;
}
