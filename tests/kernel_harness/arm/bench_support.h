/* bench_support.h - bare-metal helpers for the QEMU kernel benchmark:
 * semihosting output and exit, a SysTick-based counter, CRC32. */
#ifndef BENCH_SUPPORT_H
#define BENCH_SUPPORT_H

#include <stdint.h>

void bench_puts(const char *s);
void bench_put_u32(uint32_t v);
void bench_put_i32(int32_t v);
void bench_exit(int code);

void bench_timer_start(void);
/* SysTick ticks since bench_timer_start (24-bit counter extended by its interrupt) */
uint32_t bench_ticks(void);

uint32_t bench_crc32(const int8_t *data, uint32_t n);

#endif
