/*
 * clock_mps2.c - Arm MPS2 (AN385/AN386/AN500 FPGA images, QEMU mps2-*): the system clock is
 * fixed by the FPGA image (25 MHz in QEMU's model); there is nothing to set up.
 */
#include "bsp_internal.h"

void bsp_clock_init(void)
{
}
