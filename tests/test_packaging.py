"""`pip install .` (not only editable) ships the board YAMLs, templates, firmware and spaces."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_carries_data_and_finds_it(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(ROOT)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("ofa_mcu-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for must in ("ofa_mcu/_data/targets/qemu-microbit.yaml", "ofa_mcu/_data/templates/project/linker.ld.j2",
                 "ofa_mcu/_data/firmware/runner/runner.c", "ofa_mcu/_data/firmware/kernels/ofa_kernels.h",
                 "ofa_mcu/spaces/mcu-32.yaml", "ofa_mcu/schedules/quick.yaml"):
        assert must in names, must
    # installed as a plain package (no editable finder), the data resolves inside the install
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import ofa_mcu, ofa_mcu.resources as r, ofa_mcu.boards as b; "
            "print(ofa_mcu.__file__); print(r.targets_dir()); print(r.firmware_dir()); print(len(b.board_names()))")
    # -S: no site-packages and so no editable-install finder; the dependencies' folders come after
    # the unpacked wheel on sys.path
    import site as site_mod

    path = [str(site), *site_mod.getsitepackages()]
    out = subprocess.run([sys.executable, "-S", "-c", f"import sys; sys.path[:0] = {path!r}; " + code],
                         capture_output=True, text=True, cwd=tmp_path, check=True)
    pkg, targets, firmware, count = out.stdout.split()
    assert pkg.startswith(str(site)) and targets.startswith(str(site)) and firmware.startswith(str(site))
    assert int(count) >= 12
