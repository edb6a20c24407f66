/*
 * bsp.h - ofa-mcu board support: clock, UART, cycle counter, exit, stack high-water mark.
 *
 * One API for every board family (STM32F4/F7/L4/H7, nRF51/52/53, Arm MPS2 under QEMU). The
 * board is chosen at build time by the generated "board_config.h" (rendered from the board
 * YAML); the matching driver files are the only ones compiled. Plain C99, no heap, no newlib
 * stdio. Usable from C++.
 */
#ifndef OFA_BSP_H
#define OFA_BSP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Clock tree to the board clock, UART at the board baud rate, cycle counter. Idempotent. */
void bsp_init(void);

/* Blocking output of one byte / of n bytes. */
void bsp_putc(char c);
void bsp_write(const char *s, unsigned n);
/* Blocking output of a NUL-terminated string. */
void bsp_puts(const char *s);

/* Blocking input of one byte (0..255). */
int bsp_getc(void);

/*
 * Free-running 32-bit counter of core clock cycles (wraps at 2^32). DWT CYCCNT where the core
 * has one and it advances (checked at run time: QEMU's DWT reads 0); otherwise SysTick at the
 * processor clock extended to 32 bits by its wrap interrupt. Under QEMU -icount the count is
 * virtual time at the board clock, i.e. proportional to executed instructions.
 */
uint32_t bsp_cycles(void);

/* "dwt" or "systick": which counter bsp_cycles() reads. */
const char *bsp_counter_kind(void);

/* Core clock in Hz (the board YAML's clock_hz). */
uint32_t bsp_clock_hz(void);

/* Board name from the board YAML. */
const char *bsp_board_name(void);

/* Core name from the board YAML, e.g. "cortex-m4". */
const char *bsp_core_name(void);

/* 1 when built for an emulated board (QEMU), else 0. */
int bsp_emulated(void);

/*
 * End the program. With BSP_SEMIHOSTING=1 (QEMU): semihosting SYS_EXIT_EXTENDED
 * (ADP_Stopped_ApplicationExit, status), so QEMU exits with `status`. Otherwise: sleep forever.
 */
void bsp_exit(int status) __attribute__((noreturn));

/*
 * Deepest stack use since reset, in bytes: the startup code paints the stack with a pattern,
 * this scans for the first overwritten word from the bottom of the stack.
 */
uint32_t bsp_stack_high_water(void);

/*
 * MLPerf Tiny energy mode (firmware built with --energy-mode, board_config.h BSP_ENERGY_MODE=1):
 * bsp_energy_mode() is 1 and bsp_timestamp() pulses the board's timestamp pin low for a few
 * microseconds (the energy monitor's timestamp input); the UART runs at 9600 baud. Otherwise
 * bsp_energy_mode() is 0 and bsp_timestamp() does nothing.
 */
int bsp_energy_mode(void);
void bsp_timestamp(void);

/* Size of the stack reserved by the linker script, in bytes. */
uint32_t bsp_stack_size(void);

/* Bytes of .data + .bss (static RAM outside the arena and the stack). */
uint32_t bsp_static_ram(void);

#ifdef __cplusplus
}
#endif

#endif /* OFA_BSP_H */
