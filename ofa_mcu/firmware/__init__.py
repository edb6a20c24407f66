"""Firmware projects: render a self-contained CMake project for a board (BSP + runner + the
runtime's model sources) and build it with arm-none-eabi-gcc; the compile pipeline that gets there
from a checkpoint.

- ``board_config``: board settings derived from the board YAML (clocks, UART registers).
- ``project``: rendering (``templates/project/`` + ``firmware/``).
- ``build``: CMake build, size report.
- ``compile``: checkpoint -> subnet -> INT8 export -> project (``ofa-mcu compile``).
"""

from ofa_mcu.firmware.board_config import config_defines
from ofa_mcu.firmware.build import BuildResult, SizeReport, build_project, parse_size, size_summary
from ofa_mcu.firmware.project import bsp_sources_for, render_project, template_context

__all__ = [
    "BuildResult",
    "SizeReport",
    "bsp_sources_for",
    "build_project",
    "config_defines",
    "parse_size",
    "render_project",
    "size_summary",
    "template_context",
]
