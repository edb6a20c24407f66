"""Building a generated firmware project: CMake + arm-none-eabi-gcc (:func:`build_project`), the
size report of the image (:func:`parse_size`, :class:`SizeReport`) and its summary against the
chip and the compile-time prediction (:func:`size_summary`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ofa_mcu.atomic import check_writable, write_text
from ofa_mcu.boards import Board
from ofa_mcu.errors import UserError, WorkFailed
from ofa_mcu.firmware.trees import read_build_record


@dataclass(frozen=True)
class SizeReport:
    """arm-none-eabi-size (Berkeley format): text = code + constants, data = initialised RAM
    (also stored in flash), bss = zeroed RAM including the .arena and .stack sections."""

    text: int
    data: int
    bss: int

    @property
    def flash_bytes(self) -> int:
        return self.text + self.data

    @property
    def ram_bytes(self) -> int:
        return self.data + self.bss

    def as_dict(self) -> dict[str, int]:
        return {"text": self.text, "data": self.data, "bss": self.bss}


@dataclass(frozen=True)
class BuildResult:
    """What a successful build produced."""

    project_dir: Path
    build_dir: Path
    elf: Path
    bin: Path
    hex: Path
    map: Path
    size: SizeReport
    log: str
    #: what the project's CMake recorded about this build (``ofa_build.txt``: ``kernels`` actually
    #: built, ``library`` compiled / cache / prebuilt, ...); empty for projects that record nothing
    record: dict[str, str] = field(default_factory=dict)
    seconds: float | None = None  # wall time of configure + build

    @property
    def kernels(self) -> str | None:
        return self.record.get("kernels") or None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "project_dir": str(self.project_dir), "build_dir": str(self.build_dir), "elf": str(self.elf),
            "bin": str(self.bin), "hex": str(self.hex), "map": str(self.map), "size": self.size.as_dict(),
        }
        if self.record:
            out["record"] = dict(self.record)
        if self.kernels:
            out["kernels"] = self.kernels
        if self.seconds is not None:
            out["seconds"] = round(self.seconds, 1)
        return out


_ERROR_PATTERNS = (
    re.compile(r"region [`'][^`']+' overflowed by \d+ bytes?"),
    re.compile(r".*will not fit in region .*"),
    re.compile(r".*undefined reference to .*"),
    re.compile(r"\S*:(?: fatal)? error: .*"),
)


def _first_errors(log: str, limit: int = 3) -> str:
    """The linker's / compiler's / CMake's own messages from a failed build log, one line."""
    lines = log.splitlines()
    found: list[str] = []
    for i, line in enumerate(lines):
        text = line.strip()
        if not text:
            continue
        if text.startswith("CMake Error"):
            body = []
            for nxt in lines[i + 1 :]:
                if not nxt.strip():
                    if body:
                        break
                    continue
                if not nxt.startswith(" "):
                    break
                body.append(nxt.strip())
            found.append(" ".join(body) or text)
        else:
            for pat in _ERROR_PATTERNS:
                m = pat.search(text)
                if m:
                    msg = m.group(0).strip()
                    if msg.startswith(("collect2", "make", "gmake")):
                        break
                    found.append(msg)
                    break
        if len(found) >= limit:
            break
    seen: list[str] = []
    for f in found:
        if f not in seen:
            seen.append(f)
    return "; ".join(seen) if seen else (lines[-1].strip() if lines else "no output")


def _run(cmd: list[str], *, cwd: Path, env: Mapping[str, str], timeout_s: float) -> tuple[int, str]:
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            timeout=timeout_s, check=False,
        )
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace") if isinstance(e.stdout, bytes) else str(e.stdout or "")
        return 124, out + f"\n[timed out after {timeout_s:.0f} s]\n"
    return proc.returncode, proc.stdout.decode("utf-8", "replace")


def parse_size(text: str) -> SizeReport:
    """Parse ``arm-none-eabi-size --format=berkeley`` output."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and all(p.isdigit() for p in parts[:3]):
            return SizeReport(int(parts[0]), int(parts[1]), int(parts[2]))
    raise WorkFailed(f"could not read the size report: {text.strip()[:200]!r}")


def _stale_cache(bdir: Path, proj: Path) -> bool:
    """True when ``bdir`` holds a CMake cache made for another source or build folder."""
    cache = bdir / "CMakeCache.txt"
    if not cache.is_file():
        return False
    text = cache.read_text(encoding="utf-8", errors="replace")
    home = re.search(r"^CMAKE_HOME_DIRECTORY:INTERNAL=(.*)$", text, re.M)
    where = re.search(r"^CMAKE_CACHEFILE_DIR:INTERNAL=(.*)$", text, re.M)
    same = [Path(m.group(1).strip()).resolve() == d.resolve() for m, d in ((home, proj), (where, bdir)) if m]
    return not same or not all(same)


def build_project(
    project_dir: str | os.PathLike,
    *,
    build_dir: str | os.PathLike | None = None,
    defines: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    jobs: int | None = None,
    generator: str | None = None,
    timeout_s: float = 3600.0,
) -> BuildResult:
    """Configure (CMake) and build a rendered project; return the ELF/bin/hex/map and sizes.

    ``defines`` become ``-DNAME=VALUE`` (e.g. ``TFLM_DIR``); the CMake project also reads
    ``TFLM_DIR`` / ``CMSIS_NN_DIR`` from ``env`` (default: this process's environment). A failed
    configure, compile or link raises ``WorkFailed`` carrying the tool's own message (for a link
    that does not fit: "region `ram' overflowed by N bytes"); the full log is in
    ``<build_dir>/build.log``.
    """
    proj = Path(project_dir).expanduser().absolute()
    if not (proj / "CMakeLists.txt").is_file():
        raise UserError(f"{project_dir}: no CMakeLists.txt (not a firmware project)")
    cmake = shutil.which("cmake")
    if cmake is None:
        raise WorkFailed("cmake not found: install it (Debian/Ubuntu: apt-get install cmake)")
    full_env = dict(os.environ if env is None else env)
    if shutil.which("arm-none-eabi-gcc", path=full_env.get("PATH")) is None and not full_env.get("ARM_TOOLCHAIN_DIR"):
        raise WorkFailed(
            "arm-none-eabi-gcc not found: install it (Debian/Ubuntu: apt-get install gcc-arm-none-eabi "
            "libnewlib-arm-none-eabi) or set ARM_TOOLCHAIN_DIR"
        )
    bdir = Path(build_dir).expanduser().absolute() if build_dir else proj / "build"
    check_writable(bdir, folder=True)
    if _stale_cache(bdir, proj):  # a project copied or moved: its cache names the old folders
        shutil.rmtree(bdir)
    bdir.mkdir(parents=True, exist_ok=True)
    cfg = [cmake, "-S", str(proj), "-B", str(bdir)]
    if not (bdir / "CMakeCache.txt").exists():
        gen = generator or ("Ninja" if shutil.which("ninja") else None)
        if gen:
            cfg += ["-G", gen]
    for k, v in (defines or {}).items():
        cfg.append(f"-D{k}={v}")
    log_parts: list[str] = []

    def fail(stage: str, text: str) -> WorkFailed:
        write_text(bdir / "build.log", "".join(log_parts))
        return WorkFailed(f"firmware {stage} failed for {proj}: {_first_errors(text)} (log: {bdir / 'build.log'})")

    started = time.monotonic()
    rc, text = _run(cfg, cwd=proj, env=full_env, timeout_s=timeout_s)
    log_parts.append(f"$ {' '.join(cfg)}\n{text}")
    if rc != 0:
        raise fail("configure (cmake)", text)
    bld = [cmake, "--build", str(bdir), "-j", str(jobs or os.cpu_count() or 1)]
    rc, text = _run(bld, cwd=proj, env=full_env, timeout_s=timeout_s)
    log_parts.append(f"$ {' '.join(bld)}\n{text}")
    if rc != 0:
        raise fail("build", text)
    write_text(bdir / "build.log", "".join(log_parts))
    seconds = time.monotonic() - started

    elf = bdir / "firmware.elf"
    outputs = [elf, bdir / "firmware.bin", bdir / "firmware.hex", bdir / "firmware.map"]
    missing = [p.name for p in outputs if not p.is_file()]
    if missing:
        raise WorkFailed(f"firmware build of {proj} produced no {', '.join(missing)} (log: {bdir / 'build.log'})")
    size_tool = shutil.which("arm-none-eabi-size", path=full_env.get("PATH"))
    if size_tool is None:
        cache = (bdir / "CMakeCache.txt").read_text(encoding="utf-8", errors="replace")
        m = re.search(r"^CMAKE_SIZE:FILEPATH=(.+)$", cache, re.M)
        size_tool = m.group(1).strip() if m else "arm-none-eabi-size"
    rc, text = _run([size_tool, "--format=berkeley", str(elf)], cwd=proj, env=full_env, timeout_s=60)
    if rc != 0:
        raise WorkFailed(f"arm-none-eabi-size failed on {elf}: {text.strip()[:200]}")
    return BuildResult(
        project_dir=proj, build_dir=bdir, elf=elf, bin=outputs[1], hex=outputs[2], map=outputs[3],
        size=parse_size(text), log="".join(log_parts), record=read_build_record(bdir), seconds=seconds,
    )


def size_summary(res: BuildResult, board: Board | None, compiled: Mapping[str, Any] | None) -> dict[str, Any]:
    """Flash and RAM use against the chip (and the compile-time prediction, if any): ``build.json``'s
    ``size``."""
    s = res.size
    out: dict[str, Any] = {"text": s.text, "data": s.data, "bss": s.bss, "flash_bytes": s.flash_bytes,
                           "ram_bytes": s.ram_bytes}
    if board is not None:
        out["chip_flash_bytes"] = board.memory.flash.size
        out["chip_ram_bytes"] = board.sram_total
    if compiled:
        p = compiled.get("predicted", {})
        if "flash_bytes" in p:
            out["predicted_flash_bytes"] = p["flash_bytes"]
        if "arena_bytes" in p:
            out["predicted_arena_bytes"] = p["arena_bytes"]
    built = res.kernels
    if built:
        out["kernels"] = built
        compiled_for = (compiled or {}).get("kernels")
        if compiled_for and compiled_for != built:
            out["compiled_for_kernels"] = compiled_for
        by_kernels = (compiled or {}).get("predicted", {}).get("arena_bytes_by_kernels") or {}
        if built in by_kernels:  # the planner's figure for the kernels actually built
            out["predicted_arena_bytes"] = by_kernels[built]
        reserved = (compiled or {}).get("firmware_arena_bytes") or {}
        if built in reserved:  # the arena model_config.h reserves for the kernels built
            out["firmware_arena_bytes"] = reserved[built]
    return out
