"""Render a demo's report.html in a real browser (headless Debian chromium) and time it.

Regenerates ``DIR/report.html`` (``ofa-mcu report DIR``) unless ``--no-regenerate``, checks that it
is self-contained (every ``src`` / ``href`` is a ``data:`` URI or an in-page ``#anchor``), renders
it with headless chromium at 1280 px wide to a PNG (full page height) and prints the figures:
report generation time, HTML size, embedded images, render time and the screenshot's size. Look
at the PNG: nothing may overlap and every axis must name its unit.

    .venv/bin/python benchmarks/demo_report.py [DIR (default: demo-out)] [--png OUT.png]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


def external_refs(html: str) -> list[str]:
    """``src`` / ``href`` values that would load something from outside the file."""
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", html, flags=re.I)
    refs += re.findall(r"url\(\s*['\"]?([^'\")]+)", html)
    return [r for r in refs if not r.startswith(("data:", "#"))]


def render_png(html: Path, png: Path, width: int = 1280, height: int = 4000, timeout_s: float = 120) -> float:
    """Screenshot ``html`` with headless chromium; returns the seconds it took."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise SystemExit("chromium not found (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="ofa-chromium-") as profile:
        t = time.perf_counter()
        proc = subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
                               f"--window-size={width},{height}", html.absolute().as_uri()],
                              capture_output=True, text=True, timeout=timeout_s)
        seconds = time.perf_counter() - t
    if proc.returncode != 0 or not png.is_file():
        raise SystemExit(f"chromium failed ({proc.returncode}): {proc.stderr[-400:]}")
    return seconds


def page_height(html: Path) -> int:
    """A window height that fits the whole page: a first render, cropped to its last non-white row."""
    from PIL import Image, ImageOps

    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.png"
        render_png(html, probe, height=16000)
        with Image.open(probe) as im:
            box = ImageOps.invert(im.convert("L")).getbbox()
    return min(16000, (box[3] if box else 4000) + 40)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", nargs="?", default="demo-out", type=Path)
    ap.add_argument("--png", type=Path, default=None, help="Screenshot path (default: DIR/report.png).")
    ap.add_argument("--no-regenerate", action="store_true", help="Render the existing report.html as it is.")
    args = ap.parse_args()
    html = args.dir / "report.html"
    if not args.no_regenerate:
        from ofa_mcu.report import write_report

        t = time.perf_counter()
        data, html, _ = write_report(args.dir)
        print(f"report generated in {time.perf_counter() - t:.1f} s: {len(data.boards)} boards")
    text = html.read_text(encoding="utf-8")
    bad = external_refs(text)
    images = len(re.findall(r'src="data:image/png;base64,', text))
    print(f"{html}: {len(text) / 1024:.0f} KB, {images} embedded figures, external references: {bad or 'none'}")
    png = args.png or args.dir / "report.png"
    height = page_height(html)
    seconds = render_png(html, png, height=height)
    from PIL import Image

    with Image.open(png) as im:
        print(f"chromium rendered {png} ({im.size[0]}x{im.size[1]} px) in {seconds:.1f} s")
    if bad:
        raise SystemExit(f"report.html is not self-contained: {bad}")


if __name__ == "__main__":
    main()
