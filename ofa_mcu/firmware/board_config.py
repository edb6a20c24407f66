"""Board settings derived from a board YAML for ``config/board_config.h``: STM32 PLL factors, bus
prescalers, flash wait states, UART pins and baud-rate register values, nRF UART settings, as
C-literal defines (:func:`config_defines`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from ofa_mcu.boards import Board
from ofa_mcu.codegen import c_hex32, c_unsigned
from ofa_mcu.errors import UserError


@dataclass(frozen=True)
class _Define:
    name: str
    value: str
    comment: str = ""


_u = c_unsigned
_hex = c_hex32


def _pow2_div(freq: int, max_hz: int) -> int:
    """Smallest prescaler 1, 2, 4, 8 or 16 bringing ``freq`` to at most ``max_hz``."""
    for div in (1, 2, 4, 8, 16):
        if freq // div <= max_hz and freq % div == 0:
            return div
    return 16


def _stm32_f4f7_plan(board: Board) -> dict[str, int]:
    """Main PLL from HSI 16 MHz: /M=8 (2 MHz), xN, /P (RM0090 6.3.2 / RM0385 5.3.2 ranges)."""
    f = board.clock_hz
    for p in (2, 4, 6, 8):
        vco = f * p
        if vco % 2_000_000 == 0 and 100_000_000 <= vco <= 432_000_000 and 50 <= vco // 2_000_000 <= 432:
            n = vco // 2_000_000
            break
    else:
        raise UserError(
            f"board {board.name}: clock_hz {f} cannot be made by the {board.family} main PLL from HSI "
            "16 MHz (need clock_hz * P in 100..432 MHz, a multiple of 2 MHz, P in 2/4/6/8)"
        )
    q = min(15, max(2, math.ceil(vco / 48_000_000)))
    if board.family == "stm32f4":
        apb1_max, apb2_max, ws_hz = 42_000_000, 84_000_000, 30_000_000
    else:
        apb1_max, apb2_max, ws_hz = 54_000_000, 108_000_000, 30_000_000
    return {
        "BSP_PLL_M": 8, "BSP_PLL_N": n, "BSP_PLL_P": p, "BSP_PLL_Q": q, "BSP_PLL_R": 2,
        "BSP_AHB_DIV": 1,
        "BSP_APB1_DIV": _pow2_div(f, apb1_max),
        "BSP_APB2_DIV": _pow2_div(f, apb2_max),
        "BSP_FLASH_LATENCY": max(0, math.ceil(f / ws_hz) - 1),
    }


def _stm32_l4_plan(board: Board) -> dict[str, int]:
    """PLL from HSI16: /M=1, xN (8..127), /R (2/4/6/8), VCO 64..344 MHz (RM0432 6.4.4)."""
    f = board.clock_hz
    for r in (2, 4, 6, 8):
        vco = f * r
        if vco % 16_000_000 == 0 and 64_000_000 <= vco <= 344_000_000 and 8 <= vco // 16_000_000 <= 127:
            n = vco // 16_000_000
            break
    else:
        raise UserError(
            f"board {board.name}: clock_hz {f} cannot be made by the STM32L4 PLL from HSI16 "
            "(need clock_hz * R a multiple of 16 MHz in 64..344 MHz, R in 2/4/6/8)"
        )
    # Wait states: range 1 boost (L4+) 20 MHz per wait state; range 1 normal on the L4 16 MHz.
    ws_hz = 20_000_000 if f > 80_000_000 else 16_000_000
    return {
        "BSP_PLL_M": 1, "BSP_PLL_N": n, "BSP_PLL_P": 7, "BSP_PLL_Q": 2, "BSP_PLL_R": r,
        "BSP_AHB_DIV": 1, "BSP_APB1_DIV": 1, "BSP_APB2_DIV": 1,
        "BSP_FLASH_LATENCY": max(0, math.ceil(f / ws_hz) - 1),
        "BSP_STM32_L4_BOOST": int(f > 80_000_000),
    }


def _stm32_h7_plan(board: Board) -> dict[str, int]:
    """PLL1 from HSI 64 MHz: /M=4 (16 MHz, PLL1RGE 8..16), xN, /P=2; wide VCO (RM0433 8.5.2)."""
    f = board.clock_hz
    vos0 = f > 400_000_000
    vco = 2 * f
    if vco % 16_000_000 or not 192_000_000 <= vco <= 960_000_000 or f > 480_000_000:
        raise UserError(
            f"board {board.name}: clock_hz {f} cannot be made by the STM32H7 PLL1 from HSI 64 MHz "
            "(need 2 * clock_hz a multiple of 16 MHz in 192..960 MHz, clock_hz <= 480 MHz)"
        )
    hclk_max = 240_000_000 if vos0 else 200_000_000
    ahb = _pow2_div(f, hclk_max)
    hclk = f // ahb
    apb = _pow2_div(hclk, 120_000_000 if vos0 else 100_000_000)
    # FLASH_ACR LATENCY / WRHIGHFREQ against the AXI clock (RM0433 table "FLASH recommended
    # number of wait states and programming delay").
    table = ((70e6, 0, 0), (140e6, 1, 1), (185e6, 2, 1), (210e6, 2, 2), (225e6, 3, 2))
    ws, wrh = next(((w, h) for limit, w, h in table if hclk <= limit), (4, 2))
    return {
        "BSP_PLL_M": 4, "BSP_PLL_N": vco // 16_000_000, "BSP_PLL_P": 2, "BSP_PLL_Q": 4, "BSP_PLL_R": 2,
        "BSP_AHB_DIV": ahb, "BSP_APB1_DIV": apb, "BSP_APB2_DIV": apb, "BSP_APB3_DIV": apb,
        "BSP_APB4_DIV": apb, "BSP_FLASH_LATENCY": ws, "BSP_STM32_H7_WRHIGHFREQ": wrh,
        "BSP_STM32_H7_VOS0": int(vos0),
    }


def _stm32_pin(board: Board, pin: str | None, what: str) -> tuple[int, int]:
    m = re.fullmatch(r"P([A-K])(\d{1,2})", pin or "")
    if not m or int(m.group(2)) > 15:
        raise UserError(f"board {board.name}: uart.{what}: expected an STM32 pin like 'PD8', got {pin!r}")
    return ord(m.group(1)) - ord("A"), int(m.group(2))


def _nrf_pin(board: Board, pin: str | None, what: str) -> tuple[int, int]:
    m = re.fullmatch(r"P([01])\.(\d{1,2})", pin or "")
    if not m or int(m.group(2)) > 31:
        raise UserError(f"board {board.name}: uart.{what}: expected an nRF pin like 'P0.06', got {pin!r}")
    return int(m.group(1)), int(m.group(2))


def _stm32_af(board: Board) -> int:
    """Alternate function of the U(S)ART pins (datasheet "Alternate function mapping")."""
    inst = board.uart.instance.upper()
    if inst in ("USART1", "USART2", "USART3"):
        return 7
    if board.family == "stm32h7" and inst == "UART7":
        return 7
    return 8  # UART4/5, USART6, UART7/8, LPUART1


# BAUDRATE register values: nRF51 RM "UART" / nRF52840 PS "UARTE" (they differ for some rates).
_NRF51_UART_BAUD = {
    9600: 0x00275000, 14400: 0x003B0000, 19200: 0x004EA000, 28800: 0x0075F000, 38400: 0x009D5000,
    57600: 0x00EBF000, 115200: 0x01D7E000, 230400: 0x03AFB000, 460800: 0x075F7000,
    921600: 0x0EBEDFA4, 1000000: 0x10000000,
}
_NRF_UARTE_BAUD = {
    9600: 0x00275000, 14400: 0x003AF000, 19200: 0x004EA000, 28800: 0x0075C000, 38400: 0x009D0000,
    57600: 0x00EB0000, 115200: 0x01D60000, 230400: 0x03B00000, 460800: 0x07400000,
    921600: 0x0F000000, 1000000: 0x10000000,
}


#: The UART baud rate of the MLPerf Tiny energy mode (the energy runner's IO manager).
ENERGY_MODE_BAUD = 9600


def _energy_defines(board: Board) -> list[_Define]:
    """The MLPerf Tiny energy mode: the timestamp pin's port and number (timestamp.c)."""
    pin = board.timestamp_pin
    if pin is None:
        raise UserError(f"board {board.name}: --energy-mode needs timestamp_pin in its YAML (the GPIO the energy "
                        "monitor's timestamp input is wired to), it has none")
    fam = board.family or ""
    if fam.startswith("stm32"):
        port, num = _stm32_pin(board, pin, "timestamp_pin")
    elif fam.startswith("nrf"):
        port, num = _nrf_pin(board, pin, "timestamp_pin")
        if fam == "nrf51" and port:
            raise UserError(f"board {board.name}: timestamp_pin: the nRF51 has only port P0, got {pin!r}")
    else:
        raise UserError(f"board {board.name}: --energy-mode: family {fam} has no GPIO driver for the timestamp pin "
                        "(firmware/bsp/timestamp.c: STM32 and nRF families)")
    return [
        _Define("BSP_ENERGY_MODE", "1", "MLPerf Tiny energy mode: GPIO timestamps, UART at 9600 baud"),
        _Define("BSP_TS_PORT", str(port), f"timestamp pin {pin}"),
        _Define("BSP_TS_PIN", str(num)),
    ]


def check_energy_mode(board: Board) -> None:
    """Refuse (one ``UserError`` line) an energy-mode build for a board that cannot have one."""
    _energy_defines(board)


def config_defines(board: Board, *, emulated: bool | None = None, semihosting: bool | None = None,
                   energy_mode: bool = False, db_input: str = "int8") -> list[dict[str, str]]:
    """The ``#define`` lines of ``board_config.h`` for ``board`` (name, value, comment).

    ``energy_mode``: the MLPerf Tiny energy mode (timestamps as pulses on the board's
    ``timestamp_pin``, UART at :data:`ENERGY_MODE_BAUD`); a board without a timestamp pin is
    refused in one line. ``db_input``: ``uint8`` when the runner's ``db`` bytes are uint8 (the
    serial runner shifts them by -128 into the int8 input), ``int8`` when they are the input.
    """
    if db_input not in ("int8", "uint8"):
        raise UserError(f"db input {db_input!r}: expected int8 or uint8")
    board.require_firmware()
    energy = _energy_defines(board) if energy_mode else []
    baud = ENERGY_MODE_BAUD if energy_mode else board.uart.baud
    emulated = board.emulated if emulated is None else emulated
    semihosting = emulated if semihosting is None else semihosting
    fam = board.family
    d: list[_Define] = [
        _Define("BSP_BOARD_NAME", json.dumps(board.name)),
        _Define("BSP_CORE_NAME", json.dumps(board.core)),
        _Define("BSP_FAMILY_NAME", json.dumps(fam)),
        _Define(f"BSP_FAMILY_{fam.upper()}", "1"),
        _Define("BSP_CLOCK_HZ", _u(board.clock_hz), "core clock (board YAML clock_hz)"),
        _Define("BSP_EMULATED", str(int(emulated)), "1: QEMU build, clock set-up skipped"),
        _Define("BSP_SEMIHOSTING", str(int(semihosting)), "1: bsp_exit() uses semihosting SYS_EXIT"),
        _Define(
            "BSP_COUNTER_DWT", str(int(board.cycle_counter == "dwt")),
            "1: try DWT CYCCNT first (board YAML cycle_counter)",
        ),
        _Define("BSP_STACK_BYTES", _u(board.memory.stack_bytes)),
        _Define("BSP_UART_INSTANCE", json.dumps(board.uart.instance)),
        _Define("BSP_UART_BASE", _hex(board.uart.base), f"{board.uart.instance}"),
        _Define("BSP_UART_BAUD", _u(baud)),
        *energy,
        *([_Define("RUNNER_DB_INPUT_XOR", "0x80u", "db bytes are uint8: shifted by -128 into the int8 input")]
          if db_input == "uint8" else []),
    ]
    uart_clock = board.clock_hz
    if fam.startswith("stm32"):
        plan = {"stm32f4": _stm32_f4f7_plan, "stm32f7": _stm32_f4f7_plan, "stm32l4": _stm32_l4_plan,
                "stm32h7": _stm32_h7_plan}[fam](board)
        plan.setdefault("BSP_STM32_OVERDRIVE", int(fam == "stm32f7" and board.clock_hz > 180_000_000))
        plan.setdefault(
            "BSP_STM32_VOS_2BIT",
            int(fam == "stm32f4" and not board.mcu.upper().startswith(("STM32F405", "STM32F407", "STM32F415", "STM32F417"))),
        )
        plan.setdefault("BSP_STM32_L4_BOOST", 0)
        plan.setdefault("BSP_STM32_H7_VOS0", 0)
        inst = board.uart.instance.upper()
        on_apb2 = inst in ("USART1", "USART6")
        hclk = board.clock_hz // plan["BSP_AHB_DIV"]
        uart_clock = hclk // plan["BSP_APB2_DIV" if on_apb2 else "BSP_APB1_DIV"]
        for name, value in plan.items():
            d.append(_Define(name, str(value)))
        tx = _stm32_pin(board, board.uart.tx_pin, "tx_pin")
        rx = _stm32_pin(board, board.uart.rx_pin, "rx_pin")
        af = _stm32_af(board)
        d += [
            _Define("BSP_UART_LPUART", str(int(inst.startswith("LPUART"))), "BRR = 256 * fck / baud"),
            _Define("BSP_UART_TX_PORT", str(tx[0]), f"{board.uart.tx_pin} (0 = port A)"),
            _Define("BSP_UART_TX_PIN", str(tx[1])),
            _Define("BSP_UART_TX_AF", str(af), "alternate function number"),
            _Define("BSP_UART_RX_PORT", str(rx[0]), f"{board.uart.rx_pin}"),
            _Define("BSP_UART_RX_PIN", str(rx[1])),
            _Define("BSP_UART_RX_AF", str(af)),
        ]
    elif fam.startswith("nrf"):
        table = _NRF51_UART_BAUD if fam == "nrf51" else _NRF_UARTE_BAUD
        if baud not in table:
            raise UserError(
                f"board {board.name}: uart.baud: expected one of {', '.join(map(str, sorted(table)))} "
                f"for {fam}, got {baud}"
            )
        tx = _nrf_pin(board, board.uart.tx_pin, "tx_pin")
        rx = _nrf_pin(board, board.uart.rx_pin, "rx_pin")
        if fam == "nrf51" and (tx[0] or rx[0]):
            raise UserError(f"board {board.name}: uart: the nRF51 has only port P0")
        d += [
            _Define("BSP_UART_NRF_BAUDRATE", _hex(table[baud]), "BAUDRATE register value"),
            _Define("BSP_UART_TX_PORT", str(tx[0]), f"{board.uart.tx_pin}"),
            _Define("BSP_UART_TX_PIN", str(tx[1])),
            _Define("BSP_UART_RX_PORT", str(rx[0]), f"{board.uart.rx_pin}"),
            _Define("BSP_UART_RX_PIN", str(rx[1])),
        ]
    d.append(_Define("BSP_UART_CLOCK_HZ", _u(uart_clock), "U(S)ART kernel clock"))
    return [{"name": x.name, "value": x.value, "comment": x.comment} for x in d]
