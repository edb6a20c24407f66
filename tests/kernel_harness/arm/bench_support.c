/* bench_support.c - see bench_support.h. Also the vector table and reset handler. */
#include "bench_support.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss;
extern void _estack(void); /* linker symbol: initial stack pointer (declared as a function for the vector table) */
int main(void);

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

static volatile uint32_t systick_wraps;

static int semihost(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void bench_puts(const char *s)
{
    (void)semihost(0x04, s); /* SYS_WRITE0 */
}

void bench_put_u32(uint32_t v)
{
    char buf[12];
    int i = 11;
    buf[i] = 0;
    do {
        buf[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0u);
    bench_puts(&buf[i]);
}

void bench_put_i32(int32_t v)
{
    if (v < 0) {
        bench_puts("-");
        bench_put_u32((uint32_t)(-(v + 1)) + 1u);
    } else {
        bench_put_u32((uint32_t)v);
    }
}

void bench_exit(int code)
{
    uint32_t block[2];
    block[0] = 0x20026u; /* ADP_Stopped_ApplicationExit */
    block[1] = (uint32_t)code;
    (void)semihost(0x20, block); /* SYS_EXIT_EXTENDED */
    for (;;) {
    }
}

void SysTick_Handler(void)
{
    systick_wraps++;
}

void bench_timer_start(void)
{
    SYST_CSR = 0u;
    SYST_RVR = 0x00FFFFFFu;
    SYST_CVR = 0u;
    systick_wraps = 0u;
    SYST_CSR = 7u; /* enable, interrupt, processor clock */
    while (SYST_CVR == 0u) {
        /* the first tick reloads the counter from 0 without a wrap */
    }
}

uint32_t bench_ticks(void)
{
    uint32_t w, v;
    do {
        w = systick_wraps;
        v = SYST_CVR;
    } while (w != systick_wraps);
    return w * 0x01000000u + (0x00FFFFFFu - v);
}

uint32_t bench_crc32(const int8_t *data, uint32_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    uint32_t i;
    int k;
    for (i = 0; i < n; ++i) {
        crc ^= (uint8_t)data[i];
        for (k = 0; k < 8; ++k) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}

void Reset_Handler(void)
{
    uint32_t *src = &_sidata;
    uint32_t *dst;
    for (dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0u;
    }
    bench_exit(main());
}

void Fault_Handler(void)
{
    bench_puts("FAULT\n");
    bench_exit(99);
}

__attribute__((section(".isr_vector"), used)) void (*const bench_vectors[16])(void) = {
    _estack, Reset_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, Fault_Handler, Fault_Handler, 0, 0, 0, 0, Fault_Handler, Fault_Handler, 0,
    Fault_Handler, SysTick_Handler,
};
