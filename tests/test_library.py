"""Library output (`compile --format library|arduino|zephyr`): a model for the user's own firmware.

A board without board support (rpi-pico) goes through compile --format library; a foreign
application (tests/foreign_app: its own main.c and start-up, only the library, semihosting
prints) is built with the library's Makefile fragment for QEMU's mps2-an386 and with its CMake
target on the host, and its outputs are compared with host TFLM on the same inputs. The Arduino
layout is compiled the way the Arduino Mbed core compiles for the Nano 33 BLE (its Cortex-M4F
flags) with a stub Arduino.h, linked and run in QEMU. The Zephyr module's files are checked for
structure only (no Zephyr tree here). With a TFLM tree in $TFLM_DIR the tflm library runs the
same foreign application in QEMU.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import require_tool, run_cli

from ofa_mcu.boards import load_board
from ofa_mcu.config import SubnetConfig
from ofa_mcu.firmware.library import LIBRARY_INFO, render_library
from ofa_mcu.native.library import kernel_files
from ofa_mcu.resources import firmware_dir

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "tests" / "foreign_app"
LINKER = ROOT / "tests" / "kernel_harness" / "arm" / "mps2.ld"
INPUTS = 3
WARN = ["-Wall", "-Wextra", "-Werror"]
#: The Arduino Mbed OS core for the Nano 33 BLE (arduino/ArduinoCore-mbed,
#: variants/ARDUINO_NANO33BLE/cflags.txt and cxxflags.txt), minus its -Wno-missing-field-initializers
#: -Wno-unused-parameter (these tests add -Wall -Wextra -Werror instead) and -c.
NANO33_CPU = ["-mcpu=cortex-m4", "-mfloat-abi=softfp", "-mfpu=fpv4-sp-d16", "-mthumb"]
_NANO33_COMMON = ["-DAPPLICATION_ADDR=0x10000", "-DAPPLICATION_SIZE=0xf0000", "-DMBED_RAM_SIZE=0x40000",
                  "-DMBED_RAM_START=0x20000000", "-DMBED_ROM_SIZE=0x100000", "-DMBED_ROM_START=0x0",
                  "-DMBED_TRAP_ERRORS_ENABLED=1", "-Os", "-fdata-sections", "-ffunction-sections",
                  "-fmessage-length=0", "-fno-delete-null-pointer-checks", "-fno-exceptions",
                  "-fomit-frame-pointer", "-funsigned-char", "-g1", *NANO33_CPU]
NANO33_C = ["-std=gnu11", *_NANO33_COMMON]
NANO33_CXX = ["-Wvla", "-fno-rtti", "-std=gnu++14", *_NANO33_COMMON]


def _inputs(n_bytes: int, count: int = INPUTS) -> np.ndarray:
    """The foreign application's inputs: xorshift32 from 0x9E3779B9 + k, the top byte of each draw."""
    out = np.zeros((count, n_bytes), np.int8)
    for k in range(count):
        x = (0x9E3779B9 + k) & 0xFFFFFFFF
        for i in range(n_bytes):
            x ^= (x << 13) & 0xFFFFFFFF
            x ^= x >> 17
            x ^= (x << 5) & 0xFFFFFFFF
            out[k, i] = np.int8(np.uint8(x >> 24))
    return out


def _host_tflm(model: bytes, xs: np.ndarray) -> list[list[int]]:
    from ofa_mcu.tflm.host import TflmRunner

    runner = TflmRunner(model)
    return runner.run_int8(xs.reshape((len(xs), *runner.input.shape[1:]))).astype(int).reshape(len(xs), -1).tolist()


def _app_outputs(text: str, layers: int) -> list[list[int]]:
    assert "done" in text and f"hooks {2 * layers * INPUTS}\n" in text, text
    return [[int(v) for v in m.group(1).split()] for m in re.finditer(r"^out \d+: ([-\d ]+)$", text, re.M)]


@pytest.fixture(scope="module")
def pico_library(trained, tmp_path_factory):
    """compile --format library for rpi-pico (no firmware fields), native runtime, smallest subnet."""
    run = trained[0]
    root = tmp_path_factory.mktemp("lib")
    from ofa_mcu.checkpoint import load_checkpoint

    space = load_checkpoint(run / "checkpoint.pt").space
    (root / "subnet.json").write_text(json.dumps(SubnetConfig.min(space).to_dict()))
    out = root / "pico-lib"
    proc = run_cli("compile", "--checkpoint", str(run), "--target", "rpi-pico", "--subnet", str(root / "subnet.json"),
                   "--runtime", "native", "--format", "library", "--test-images", "40", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_board_without_bsp_compiles_to_a_self_contained_library(pico_library):
    out, proc = pico_library
    assert "as a C library (native runtime) for rpi-pico (cortex-m0plus)" in proc.stdout
    info = json.loads((out / LIBRARY_INFO).read_text())
    assert (info["board"], info["runtime"], info["output_format"]) == ("rpi-pico", "native", "library")
    assert (out / "model.tflite").read_bytes()[4:8] == b"TFL3" and info["model_bytes"] == (out / "model.tflite").stat().st_size
    assert sorted(info["files"]) == sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    src = out / "src"
    model_c = (src / "ofa_model.c").read_text()
    called = set(re.findall(r"^\s+(ofa_\w+_s8\w*)\(", model_c, re.M))
    kernels = sorted(p.name for p in src.iterdir() if p.name not in ("ofa_model.c", "ofa_model.h"))
    assert called and kernels == kernel_files(called) == [k for k in info["kernels"]]
    all_kernels = {p.name for p in (firmware_dir() / "kernels").iterdir() if p.suffix == ".c"}
    assert {k for k in kernels if k.endswith(".c")} < all_kernels  # only the kernels this model calls
    for p in src.iterdir():  # nothing of the runner or the board support
        assert not re.search(r'#include "(runner|bsp|board_config)\.h"', p.read_text()), p.name
    header = (src / "ofa_model.h").read_text()
    assert f"#define OFA_MODEL_ARENA_BYTES {info['arena_bytes']}u" in header
    assert info["arena_bytes"] == info["predicted"]["arena_bytes"]  # the analysis' native arena, exactly
    for api in ("int ofa_model_init(void);", "int ofa_model_invoke(void);", "ofa_model_input(void);",
                "ofa_model_output(void);", "ofa_model_set_layer_hook("):
        assert api in header
    readme = (out / "README.md").read_text()
    example = readme.split("```c\n", 1)[1].split("```", 1)[0]
    assert len(example.strip().splitlines()) <= 11 and "ofa_model_invoke()" in example
    mk = (out / "ofa_model.mk").read_text()
    assert all(f"$(OFA_MODEL_DIR)/src/{k}" in mk for k in kernels if k.endswith(".c"))


def test_library_output_is_deterministic_and_replaces_only_a_library(pico_library, tmp_path):
    out, _ = pico_library
    model = (out / "model.tflite").read_bytes()
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        render_library(model, "rpi-pico", d, "native", "library", name="m")
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    render_library(model, "rpi-pico", a, "native", "arduino", name="m")  # a library is replaced
    assert (a / "library.properties").is_file() and not (a / "CMakeLists.txt").exists()
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("x")
    proc = run_cli("compile", "--checkpoint", str(tmp_path / "none"), "--target", "rpi-pico", "--format", "library",
                   "--out", str(other))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "is not a generated library" in proc.stderr
    assert sorted(p.name for p in other.iterdir()) == ["keep.txt"]


def test_foreign_app_on_the_host_through_the_cmake_target(pico_library, tmp_path):
    """The library's CMake target in a host application built with gcc: outputs equal host TFLM."""
    require_tool("cmake")
    out, _ = pico_library
    app = tmp_path / "app"
    app.mkdir()
    (app / "CMakeLists.txt").write_text(textwrap.dedent(f"""
        cmake_minimum_required(VERSION 3.13)
        project(foreign C)
        set(CMAKE_C_FLAGS "${{CMAKE_C_FLAGS}} {' '.join(WARN)} -O2")
        add_subdirectory("{out}" ofa_model)
        add_executable(foreign "{APP / 'main.c'}")
        target_link_libraries(foreign PRIVATE ofa_model)
    """))
    subprocess.run(["cmake", "-S", str(app), "-B", str(app / "build")], check=True, capture_output=True)
    build = subprocess.run(["cmake", "--build", str(app / "build")], capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    res = subprocess.run([str(app / "build" / "foreign")], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    info = json.loads((out / LIBRARY_INFO).read_text())
    model = (out / "model.tflite").read_bytes()
    got = _app_outputs(res.stdout, len(info["layers"]))
    assert got == _host_tflm(model, _inputs(info["input"]["bytes"]))  # bit-exact


def _qemu_app(lib: Path, work: Path, extra_sources: list[Path], cflags: list[str], cxx_flags: list[str],
              timeout: float = 120) -> str:
    """Build the foreign application with the library's Makefile fragment for mps2-an386, run it."""
    require_tool("arm-none-eabi-gcc")
    qemu = require_tool("qemu-system-arm")
    work.mkdir(parents=True, exist_ok=True)
    cpu = load_board("qemu-mps2-an386").gcc_cpu_flags()
    (work / "Makefile").write_text(textwrap.dedent(f"""
        .RECIPEPREFIX := >
        OFA_MODEL_DIR := {lib}
        include $(OFA_MODEL_DIR)/ofa_model.mk
        CFLAGS := {' '.join(cpu)} -O2 -ffunction-sections -fdata-sections {' '.join(WARN)} {' '.join(cflags)} $(OFA_MODEL_CFLAGS)
        CXXFLAGS := {' '.join(cpu)} -O2 -ffunction-sections -fdata-sections -std=c++17 -fno-rtti -fno-exceptions -fno-threadsafe-statics {' '.join(cxx_flags)} $(OFA_MODEL_CFLAGS)
        OBJS := $(patsubst %,obj/%.o,$(notdir $(OFA_MODEL_SRCS) {' '.join(str(s) for s in extra_sources)}))
        vpath %.c $(sort $(dir $(OFA_MODEL_C_SRCS))) {' '.join(sorted({str(s.parent) for s in extra_sources}))}
        vpath %.cpp $(sort $(dir $(OFA_MODEL_CXX_SRCS))) {' '.join(sorted({str(s.parent) for s in extra_sources}))}
        app.elf: $(OBJS)
        > arm-none-eabi-g++ {' '.join(cpu)} -nostartfiles --specs=nano.specs --specs=nosys.specs -Wl,--gc-sections -T{LINKER} $^ -o $@
        obj/%.c.o: %.c
        > @mkdir -p obj
        > arm-none-eabi-gcc -std=c99 $(CFLAGS) -c $< -o $@
        obj/%.cpp.o: %.cpp
        > @mkdir -p obj
        > arm-none-eabi-g++ $(CXXFLAGS) -c $< -o $@
    """))
    make = subprocess.run(["make", "-C", str(work), "-j2"], capture_output=True, text=True, timeout=3600)
    assert make.returncode == 0, make.stdout[-3000:] + make.stderr[-3000:]
    res = subprocess.run([qemu, "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
                          "-semihosting-config", "enable=on,target=native", "-kernel", str(work / "app.elf")],
                         capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout + res.stderr


def test_foreign_app_in_qemu_through_the_makefile_fragment(pico_library, tmp_path):
    """The foreign application for mps2-an386 (Cortex-M4F) in QEMU: outputs equal host TFLM."""
    out, _ = pico_library
    text = _qemu_app(out, tmp_path / "arm", [APP / "main.c", APP / "startup.c"], [], [])
    info = json.loads((out / LIBRARY_INFO).read_text())
    model = (out / "model.tflite").read_bytes()
    assert _app_outputs(text, len(info["layers"])) == _host_tflm(model, _inputs(info["input"]["bytes"]))


ARDUINO_STUB = """\
/* The part of the Arduino API the generated example sketch uses, for a bare-metal test build:
 * Serial prints through semihosting, micros() counts calls. Not an Arduino core. */
#ifndef ARDUINO_H_STUB
#define ARDUINO_H_STUB
#include <stdint.h>
#include <stddef.h>
void stub_write(const char *s);
unsigned long micros(void);
void delay(unsigned long ms);
class StubSerial {
public:
    void begin(unsigned long) {}
    explicit operator bool() const { return true; }
    void print(const char *s) { stub_write(s); }
    void print(char c) { char b[2] = {c, 0}; stub_write(b); }
    void print(long v);
    void print(int v) { print((long)v); }
    void print(unsigned long v);
    void println(const char *s) { print(s); println(); }
    void println() { stub_write("\\n"); }
};
extern StubSerial Serial;
void setup(void);
void loop(void);
#endif
"""

ARDUINO_MAIN = """\
#include "Arduino.h"
StubSerial Serial;
static unsigned long s_us;
static int semihost(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}
void stub_write(const char *s) { (void)semihost(0x04, s); }
unsigned long micros(void) { return ++s_us; }
void delay(unsigned long) {}
void StubSerial::print(unsigned long v)
{
    char b[12];
    int i = 11;
    b[i] = 0;
    do { b[--i] = (char)('0' + v % 10u); v /= 10u; } while (v != 0u);
    stub_write(&b[i]);
}
void StubSerial::print(long v)
{
    if (v < 0) { stub_write("-"); print((unsigned long)(-(v + 1)) + 1u); } else { print((unsigned long)v); }
}
int main(void)
{
    uint32_t block[2] = {0x20026u, 0u};
    setup();
    loop();
    (void)semihost(0x20, block);
    for (;;) {}
}
"""


def test_arduino_library_compiles_with_the_nano33ble_flags_and_runs(pico_library, tmp_path):
    """The Arduino layout (library.properties, src/, examples/<name>/<name>.ino): the sources and
    the sketch, translated to C++ the way the Arduino builder does (#include <Arduino.h> first),
    compiled with arm-none-eabi-gcc/g++ and the Nano 33 BLE's Cortex-M4F flags plus -Wall -Wextra
    -Werror, linked with a stub Arduino.h/Serial and run in QEMU: the scores of the blank input
    equal host TFLM's."""
    require_tool("arm-none-eabi-g++")
    qemu = require_tool("qemu-system-arm")
    out, _ = pico_library
    model = (out / "model.tflite").read_bytes()
    lib = tmp_path / "ofa_model_m"
    render_library(model, "arduino-nano-33-ble", lib, "native", "arduino", name="m")
    props = dict(line.split("=", 1) for line in (lib / "library.properties").read_text().splitlines() if line)
    assert props["name"] == "ofa_model_m" and props["architectures"] == "*" and props["includes"] == "ofa_model.h"
    for key in ("version", "author", "maintainer", "sentence", "paragraph", "category"):
        assert props[key], key
    assert props["category"] in ("Display", "Communication", "Signal Input/Output", "Sensors", "Device Control",
                                 "Timing", "Data Storage", "Data Processing", "Other")
    examples = list((lib / "examples").iterdir())
    assert len(examples) == 1 and (examples[0] / f"{examples[0].name}.ino").is_file()
    assert (lib / "extras" / "model.tflite").read_bytes() == model and (lib / "extras" / LIBRARY_INFO).is_file()
    assert not [p for p in lib.iterdir() if p.suffix in (".c", ".h", ".cpp")]  # sources only in src/
    work = tmp_path / "build"
    (work / "stub").mkdir(parents=True)
    (work / "stub" / "Arduino.h").write_text(ARDUINO_STUB)
    (work / "stub_main.cpp").write_text(ARDUINO_MAIN)
    sketch = examples[0] / f"{examples[0].name}.ino"
    (work / "sketch.cpp").write_text(f'#include <Arduino.h>\n#line 1 "{sketch}"\n' + sketch.read_text())
    objs = []
    for c in sorted((lib / "src").glob("*.c")):
        objs.append(work / f"{c.name}.o")
        subprocess.run(["arm-none-eabi-gcc", *NANO33_C, *WARN, f"-I{lib / 'src'}", "-c", str(c), "-o", str(objs[-1])],
                       check=True, capture_output=True, text=True)
    for cpp in (work / "sketch.cpp", work / "stub_main.cpp"):
        objs.append(work / f"{cpp.name}.o")
        r = subprocess.run(["arm-none-eabi-g++", *NANO33_CXX, *WARN, f"-I{work / 'stub'}", f"-I{lib / 'src'}",
                            "-c", str(cpp), "-o", str(objs[-1])], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    subprocess.run(["arm-none-eabi-gcc", *NANO33_C, "-c", str(APP / "startup.c"),
                    "-o", str(work / "startup.o")], check=True, capture_output=True, text=True)
    elf = work / "sketch.elf"
    subprocess.run(["arm-none-eabi-g++", *NANO33_CPU, "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs",
                    "-Wl,--gc-sections", f"-T{LINKER}", *map(str, objs), str(work / "startup.o"), "-o", str(elf)],
                   check=True, capture_output=True, text=True)
    res = subprocess.run([qemu, "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
                          "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    scores = [int(v) for v in re.search(r"^scores: ([-\d ]+)$", res.stdout + res.stderr, re.M).group(1).split()]
    info = json.loads((lib / "extras" / LIBRARY_INFO).read_text())
    blank = np.full((1, info["input"]["bytes"]), info["input"]["zero_point"], np.int8)
    assert scores == _host_tflm(model, blank)[0]


def test_zephyr_module_layout(pico_library, tmp_path):
    """Structure only: no Zephyr tree here (what a Zephyr build reads: module.yml, Kconfig,
    CMakeLists with zephyr_library, a sample)."""
    out, _ = pico_library
    mod = tmp_path / "zmod"
    render_library((out / "model.tflite").read_bytes(), "qemu-mps2-an386", mod, "native", "zephyr", name="m")
    meta = yaml.safe_load((mod / "zephyr" / "module.yml").read_text())
    assert meta["name"] == "ofa_model_m" and meta["build"] == {"cmake": "zephyr", "kconfig": "zephyr/Kconfig"}
    cm = (mod / "zephyr" / "CMakeLists.txt").read_text()
    assert "if(CONFIG_OFA_MODEL)" in cm and "zephyr_library()" in cm and "zephyr_include_directories(" in cm
    for f in (mod / "src").glob("*.c"):
        assert f'"${{_ofa_src}}/{f.name}"' in cm
    kconfig = (mod / "zephyr" / "Kconfig").read_text()
    for sym in ("config OFA_MODEL\n", "choice OFA_MODEL_ARENA_PLACEMENT", "config OFA_MODEL_ARENA_NOINIT",
                "config OFA_MODEL_ARENA_SECTION_NAME", "config OFA_MODEL_ARENA_EXTERNAL"):
        assert sym in kconfig
    for cfg in re.findall(r"CONFIG_(OFA_MODEL\w*)", cm):
        assert re.search(rf"^config {cfg}$", kconfig, re.M), cfg
    sample = mod / "samples" / "ofa_model_m_infer"
    assert "CONFIG_OFA_MODEL=y" in (sample / "prj.conf").read_text()
    assert "find_package(Zephyr" in (sample / "CMakeLists.txt").read_text()
    assert "ofa_model_invoke()" in (sample / "src" / "main.c").read_text()


def test_tflm_library_sources(pico_library, tmp_path):
    """The tflm library: the .tflite, the API over the interpreter, only the model's ops registered."""
    out, _ = pico_library
    model = (out / "model.tflite").read_bytes()
    lib = tmp_path / "tflm-lib"
    _, info, srcs = render_library(model, "rpi-pico", lib, "tflm", "library", name="m")
    assert sorted(p.name for p in (lib / "src").iterdir()) == ["ofa_model.cpp", "ofa_model.h", "ofa_model_data.cpp",
                                                               "ofa_model_data.h"]
    cc = (lib / "src" / "ofa_model.cpp").read_text()
    registered = re.findall(r"resolver\.(Add\w+)\(\)", cc)
    assert registered == [op["method"] for op in srcs.model.ops] and len(registered) == len(set(registered))
    assert info["needs"] == ["TFLM"] and "TFLM_DIR" in (lib / "CMakeLists.txt").read_text()
    assert info["arena_bytes"] % 16 == 0 and info["arena_bytes"] >= srcs.model.bytes // 1000
    data = (lib / "src" / "ofa_model_data.cpp").read_text()
    assert f"ofa_model_data[{len(model)}]" in data


def _tflm_dir() -> Path:
    d = os.environ.get("TFLM_DIR")
    if not d:
        pytest.skip("TFLM_DIR is not set (a TFLM source tree; see the project README)")
    return Path(d)


TFLM_PLATFORM = """\
/* The TFLM platform functions a firmware provides when the tree's own need Arduino.h. */
#include <stdint.h>
extern "C" void DebugLog(const char *s) { (void)s; }
namespace tflite {
uint32_t ticks_per_second() { return 0u; }
uint32_t GetCurrentTimeTicks() { return 0u; }
void InitializeTarget() {}
}
"""


@pytest.mark.tflm_tree
@pytest.mark.slow
def test_tflm_library_foreign_app_in_qemu(pico_library, tmp_path):
    """The tflm library with TFLM compiled from $TFLM_DIR: the same foreign application in QEMU."""
    tflm = _tflm_dir()
    require_tool("cmake")
    out, _ = pico_library
    model = (out / "model.tflite").read_bytes()
    lib = tmp_path / "tflm-lib"
    _, info, _ = render_library(model, "qemu-mps2-an386", lib, "tflm", "library", name="m")
    (tmp_path / "platform.cc").write_text(TFLM_PLATFORM)
    cpu = " ".join(load_board("qemu-mps2-an386").gcc_cpu_flags())
    app = tmp_path / "app"
    app.mkdir()
    (app / "CMakeLists.txt").write_text(textwrap.dedent(f"""
        cmake_minimum_required(VERSION 3.13)
        set(CMAKE_SYSTEM_NAME Generic)
        set(CMAKE_SYSTEM_PROCESSOR arm)
        set(CMAKE_C_COMPILER arm-none-eabi-gcc)
        set(CMAKE_CXX_COMPILER arm-none-eabi-g++)
        set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
        project(foreign C CXX)
        set(CMAKE_C_FLAGS "{cpu} -O2 -ffunction-sections -fdata-sections")
        set(CMAKE_CXX_FLAGS "{cpu} -O2 -ffunction-sections -fdata-sections -fno-rtti -fno-exceptions -fno-threadsafe-statics -DNDEBUG")
        add_subdirectory("{lib}" ofa_model)
        target_compile_options(ofa_model PRIVATE {' '.join(WARN)})
        add_executable(foreign.elf "{APP / 'main.c'}" "{APP / 'startup.c'}" "{tmp_path / 'platform.cc'}")
        target_compile_options(foreign.elf PRIVATE $<$<COMPILE_LANGUAGE:C>:{' '.join(WARN)}>)
        target_link_libraries(foreign.elf PRIVATE ofa_model)
        target_link_options(foreign.elf PRIVATE {cpu} -nostartfiles --specs=nano.specs --specs=nosys.specs -Wl,--gc-sections -T{LINKER} -Wl,--defsym,end=_ebss)
    """))
    subprocess.run(["cmake", "-S", str(app), "-B", str(app / "build"), f"-DTFLM_DIR={tflm}"], check=True,
                   capture_output=True)
    build = subprocess.run(["cmake", "--build", str(app / "build"), "-j2"], capture_output=True, text=True,
                           timeout=3600)
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    qemu = require_tool("qemu-system-arm")
    res = subprocess.run([qemu, "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
                          "-semihosting-config", "enable=on,target=native", "-kernel", str(app / "build" / "foreign.elf")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    got = _app_outputs(res.stdout + res.stderr, len(info["layers"]))
    expected = _host_tflm(model, _inputs(info["input"]["bytes"]))
    assert got == expected  # bit for bit (the global pooling is AVERAGE_POOL_2D, exact in every TFLM version)


def test_refusal_points_to_the_library_output():
    from ofa_mcu.errors import UserError

    with pytest.raises(UserError) as e:
        load_board("rpi-pico").require_firmware()
    assert "ofa-mcu compile --format library" in str(e.value) and "\n" not in str(e.value)


def test_every_format_renders_for_both_runtimes(pico_library, tmp_path):
    out, _ = pico_library
    model = (out / "model.tflite").read_bytes()
    for fmt in ("library", "arduino", "zephyr"):
        for rt in ("native", "tflm"):
            d = tmp_path / f"{fmt}-{rt}"
            _, info, _ = render_library(model, "teensy-41", d, rt, fmt, name="m")
            assert info["output_format"] == fmt and info["runtime"] == rt
            assert sorted(info["files"]) == sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file())
