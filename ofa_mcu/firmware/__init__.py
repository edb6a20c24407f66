"""Firmware projects: render a self-contained CMake project for a board (BSP + runner + model
sources) from ``templates/project/`` and ``firmware/``, and build it with arm-none-eabi-gcc.

Public API: :func:`render_project`, :func:`build_project`, :func:`read_project_info`,
:class:`BuildResult`, :class:`SizeReport`.
"""

from ofa_mcu.firmware.project import (
    BuildResult,
    SizeReport,
    bsp_sources_for,
    build_project,
    config_defines,
    read_project_info,
    render_project,
    template_context,
)

__all__ = [
    "BuildResult",
    "SizeReport",
    "bsp_sources_for",
    "build_project",
    "config_defines",
    "read_project_info",
    "render_project",
    "template_context",
]
