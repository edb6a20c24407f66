/*
 * timestamp.c - the MLPerf Tiny energy-mode timestamp: a low pulse on a GPIO.
 *
 * In the EEMBC / MLPerf Tiny energy mode the DUT does not print m-lap-us-<t>; each timestamp is
 * a pulse on a pin wired to the energy monitor's timestamp input: pull the pin low, hold it low
 * for at least 1 us, release it (high). The pin idles high. It comes from the board YAML's
 * timestamp_pin (board_config.h: BSP_TS_PORT, BSP_TS_PIN) and is driven with the plain GPIO
 * registers:
 *  - STM32F4/F7/L4/H7 (RM0090/RM0402/RM0385/RM0410/RM0432/RM0433 "GPIO registers"): MODER = 01
 *    (output), BSRR bit n sets, bit n+16 resets; the port clock is enabled in RCC (stm32_rcc.h).
 *  - nRF51/52/53 (nRF51 RM "GPIO", nRF52840 PS 6.8 "GPIO", nRF5340 PS "GPIO"): PIN_CNF[n] = output,
 *    OUTSET / OUTCLR; the same port blocks as uarte_nrf5x.c.
 * Without BSP_ENERGY_MODE (performance mode, the default) nothing here touches a pin.
 */
#include "bsp_internal.h"

#ifndef BSP_ENERGY_MODE
#define BSP_ENERGY_MODE 0
#endif

#if BSP_ENERGY_MODE
#if defined(BSP_FAMILY_STM32F4) || defined(BSP_FAMILY_STM32F7) || defined(BSP_FAMILY_STM32L4) || \
    defined(BSP_FAMILY_STM32H7)
#include "stm32_rcc.h"
#define TS_MODER BSP_REG(GPIO_BASE(BSP_TS_PORT) + 0x00u) /* GPIOx_MODER: 2 bits/pin, 01 = output */
#define TS_BSRR BSP_REG(GPIO_BASE(BSP_TS_PORT) + 0x18u)  /* GPIOx_BSRR */

static void ts_high(void)
{
    TS_BSRR = 1u << BSP_TS_PIN;
}

static void ts_low(void)
{
    TS_BSRR = 1u << (BSP_TS_PIN + 16u);
}

static void ts_init(void)
{
    RCC_GPIOENR |= 1u << BSP_TS_PORT; /* GPIOxEN */
    (void)RCC_GPIOENR;
    ts_high(); /* the output latch is high before the pin becomes an output: no glitch */
    TS_MODER = (TS_MODER & ~(3u << (2u * BSP_TS_PIN))) | (1u << (2u * BSP_TS_PIN));
}
#elif defined(BSP_FAMILY_NRF51) || defined(BSP_FAMILY_NRF52) || defined(BSP_FAMILY_NRF53)
#if defined(BSP_FAMILY_NRF53)
#define TS_BLOCK (BSP_TS_PORT == 0 ? 0x50842000u : 0x50842300u) /* app core, secure alias */
#else
#define TS_BLOCK (BSP_TS_PORT == 0 ? 0x50000000u : 0x50000300u)
#endif
#define TS_OUTSET BSP_REG(TS_BLOCK + 0x508u)                             /* OUTSET */
#define TS_OUTCLR BSP_REG(TS_BLOCK + 0x50Cu)                             /* OUTCLR */
#define TS_PIN_CNF BSP_REG(TS_BLOCK + 0x700u + 4u * (uint32_t)BSP_TS_PIN) /* PIN_CNF[n] */

static void ts_high(void)
{
    TS_OUTSET = 1u << BSP_TS_PIN;
}

static void ts_low(void)
{
    TS_OUTCLR = 1u << BSP_TS_PIN;
}

static void ts_init(void)
{
    ts_high();
    TS_PIN_CNF = 1u; /* DIR = output, input buffer connected, no pull, standard drive */
}
#else
#error "timestamp.c: no GPIO driver for this family's energy-mode timestamp pin"
#endif
#endif /* BSP_ENERGY_MODE */

int bsp_energy_mode(void)
{
    return BSP_ENERGY_MODE ? 1 : 0;
}

void bsp_timestamp_init(void)
{
#if BSP_ENERGY_MODE
    ts_init();
#endif
}

void bsp_timestamp(void)
{
#if BSP_ENERGY_MODE
    ts_low();
    bsp_spin(BSP_CLOCK_HZ / 500000u + 1u); /* >= 2 cycles per iteration: >= 4 us low */
    ts_high();
#endif
}
