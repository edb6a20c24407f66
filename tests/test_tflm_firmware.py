"""TFLM-runtime firmware projects (ofa_mcu.tflm, templates/tflm, firmware/tflm).

Without a TFLM tree (CI): the model sources of an exported ofa-mcu subnet and of a Keras model with
ops outside the layer IR are rendered for every shipped board; the model array round-trips to the
.tflite bytes (parsed back, and compiled and extracted from the object file); the resolver lists
exactly the model's ops (read independently by the LiteRT interpreter); the arena is the
plan_tflm prediction plus the documented margin; every rendered source that does not need TFLM
(start-up, drivers, protocol, glue C files, model data) compiles with -Wall -Wextra -Werror for
each board's core and links with the rendered linker script, whose sizes are the board YAML's;
the C++ glue compiles against both TFLM logging APIs (stand-in declarations) and, on the emulated
Cortex-M4, reports per-layer cycles through the serial protocol; the log formatter matches the C
library's snprintf; a missing or wrong TFLM_DIR is a clear CMake error.

With a TFLM tree in $TFLM_DIR (marker ``tflm_tree``; ``OFA_TFLM_KERNELS``, ``CMSIS_NN_DIR`` and
``OFA_TFLM_LIBRARY`` are passed through when set): the full firmware of two models is built for
qemu-mps2-an386, run in QEMU with the profiler, and its outputs compared with host TFLM.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import require_tool, touch_files

from ofa_mcu.artifacts import read_project_info
from ofa_mcu.boards import list_boards, load_board
from ofa_mcu.errors import UserError, WorkFailed
from ofa_mcu.export.convert import set_int8_options
from ofa_mcu.firmware import build_project, render_project
from ofa_mcu.planner import plan_tflm
from ofa_mcu.resources import firmware_dir
from ofa_mcu.tflm import RESOLVER_METHODS, model_sources
from ofa_mcu.tflm.codegen import ARENA_MARGIN_FRACTION, ARENA_MARGIN_MIN_BYTES, describe_model

BOARDS = [b.name for b in list_boards() if b.firmware_problem() is None]  # boards with board support
GLUE = firmware_dir() / "tflm"
C_FLAGS = ["-std=c99", "-O2", "-DNDEBUG", "-Wall", "-Wextra", "-Werror", "-ffunction-sections", "-fdata-sections"]
CXX_FLAGS = ["-std=c++17", "-O2", "-DNDEBUG", "-Wall", "-Wextra", "-Werror", "-fno-rtti", "-fno-exceptions",
             "-fno-threadsafe-statics", "-fno-use-cxa-atexit", "-ffunction-sections", "-fdata-sections"]
LINK_FLAGS = ["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections"]

pytestmark = pytest.mark.filterwarnings("ignore:Statistics for quantized inputs:UserWarning")

needs_tf = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("tensorflow", "tflite_micro")),
    reason="test models need tensorflow and tflite-micro (the [export] extras)",
)


# ------------------------------------------------------------------------------------------
# test models


def _keras_model(tf: Any) -> bytes:
    """A small int8 Keras model: conv, average pool, a RESHAPE the converter keeps, FC, softmax."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    keras = tf.keras
    L = keras.layers
    keras.utils.set_random_seed(7)
    inp = keras.Input((12, 12, 3), batch_size=1)
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)
    x = L.AveragePooling2D(2)(x)
    x = L.Flatten()(x)
    x = L.Dense(4)(x)
    x = L.Softmax()(x)
    model = keras.Model(inp, x)
    shape = (1, 12, 12, 3)
    fn = tf.function(lambda t: model(t, training=False)).get_concrete_function(tf.TensorSpec(shape, tf.float32))
    conv = tf.lite.TFLiteConverter.from_concrete_functions([convert_variables_to_constants_v2(fn)])
    rng = np.random.default_rng(0)
    set_int8_options(conv, lambda: ([rng.uniform(-1, 1, shape).astype(np.float32)] for _ in range(8)))
    return conv.convert()


def _exported_subnet() -> tuple[bytes, Any]:
    """An ofa-mcu export (metadata inside) of the smallest mcu-32 subnet at resolution 24."""
    import torch

    from ofa_mcu.config import SubnetConfig
    from ofa_mcu.export.convert import export_tflite
    from ofa_mcu.export.pipeline import model_metadata, to_nhwc
    from ofa_mcu.ir import build_graph
    from ofa_mcu.space import load_space
    from ofa_mcu.supernet.extract import extract
    from ofa_mcu.supernet.model import Supernet
    from ofa_mcu.train.bn import recalibrate

    space = load_space("mcu-32")
    cfg = SubnetConfig.min(space)
    cfg = SubnetConfig.from_dict({**cfg.to_dict(), "resolution": 24}).validate(space)
    torch.manual_seed(0)
    net = Supernet(space).eval()
    images = np.random.default_rng(0).random((64, 3, 24, 24), dtype=np.float32)
    recalibrate(net, cfg, images)
    static = extract(net, cfg)
    data = export_tflite(static, to_nhwc(images[:16]), metadata=model_metadata(space, cfg))
    return data, build_graph(space, cfg)


@pytest.fixture(scope="module")
def models() -> dict[str, Any]:
    """{"subnet": (bytes, layer IR), "keras": bytes}, converted once per module."""
    if any(importlib.util.find_spec(m) is None for m in ("tensorflow", "tflite_micro")):
        pytest.skip("test models need tensorflow and tflite-micro (the [export] extras)")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return {"subnet": _exported_subnet(), "keras": _keras_model(tf)}


def _ops_by_tensorflow(data: bytes) -> list[str]:
    """The model's op names as the TFLite (LiteRT) interpreter lists them (not our parser)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # older installations: TensorFlow's own copy
        from tensorflow.lite import Interpreter
    return [d["op_name"] for d in Interpreter(model_content=data)._get_ops_details()]


# ------------------------------------------------------------------------------------------
# the model sources


@needs_tf
def test_model_sources_api_and_arena(models):
    data, ir = models["subnet"]
    files, ctx = model_sources(data, load_board("nucleo-f746zg"), {"accuracy": {"int8": 0.61, "float": 0.62}})
    assert set(files) == {"model_data.cc", "model_data.h", "model_config.h", "main.cc"}
    assert ctx["cmake_template"] == "tflm/CMakeLists.txt.j2" and ctx["readme_template"] == "tflm/README.md.j2"
    # The arena: the calibrated plan_tflm prediction over the subnet's layer IR, plus the margin.
    arena = ctx["tflm"]["arena"]
    predicted = plan_tflm(ir).peak_bytes
    margin = -(-max(ARENA_MARGIN_MIN_BYTES, int(np.ceil(ARENA_MARGIN_FRACTION * predicted))) // 16) * 16
    assert (arena.predicted, arena.margin) == (predicted, margin)
    assert "layer IR of the exported subnet" in arena.source
    cfg = files["model_config.h"]
    assert f"#define OFA_TFLM_ARENA_PREDICTED_BYTES {predicted}u" in cfg
    assert f"#define OFA_TFLM_ARENA_BYTES {-(-(predicted + margin) // 16) * 16}u /* predicted + margin */" in cfg
    assert arena.cmsis_nn_scratch > 0 and f"#define OFA_TFLM_ARENA_BYTES {arena.bytes_cmsis_nn}u" in cfg
    # Shapes and quantization as TFLM sees them.
    from ofa_mcu.tflm.host import TflmRunner

    runner = TflmRunner(data)
    assert f"#define OFA_INPUT_SHAPE {{{', '.join(map(str, runner.input.shape))}}}" in cfg
    assert f"#define OFA_INPUT_ZERO_POINT {runner.input.zero_point}\n" in cfg
    assert f"#define OFA_OUTPUT_BYTES {int(np.prod(runner.output.shape))}u" in cfg
    assert f"#define OFA_NUM_CLASSES {ir.ops[-1].out_shape[-1]}\n" in cfg
    scale = float(re.search(r"#define OFA_OUTPUT_SCALE (\S+)f", cfg).group(1))
    assert np.float32(scale) == np.float32(runner.output.scale)
    # Layer names come from the layer IR; kinds are the IR's.
    main = files["main.cc"]
    for op in ir.ops:
        assert f'"{op.tflite_op}", "{op.kind}", "{op.name}"' in main
    # meta overrides
    _, ctx2 = model_sources(data, load_board("nucleo-f746zg"), {"arena_bytes": 50000, "arena_margin_bytes": 100})
    a2 = ctx2["tflm"]["arena"]
    assert (a2.predicted, a2.margin, a2.bytes_reference) == (50000, 112, 50112)


@needs_tf
def test_model_array_round_trips(models, tmp_path):
    data, _ = models["subnet"]
    files, _ = model_sources(data, load_board("qemu-mps2-an386"))
    src = files["model_data.cc"]
    assert f"alignas(16) const unsigned char ofa_model_data[{len(data)}] = {{" in src
    assert f"const unsigned int ofa_model_data_len = {len(data)}u;" in src
    body = src.split("= {", 1)[1].split("};", 1)[0]
    assert bytes(int(h, 16) for h in re.findall(r"0x([0-9a-f]{2})", body)) == data
    # ... and the compiled object holds exactly those bytes, 16-byte aligned.
    gxx = require_tool("arm-none-eabi-g++")
    for name in ("model_data.cc", "model_data.h"):
        (tmp_path / name).write_text(files[name])
    obj = tmp_path / "model_data.o"
    subprocess.run([gxx, "-mcpu=cortex-m4", "-mthumb", *CXX_FLAGS, "-c", str(tmp_path / "model_data.cc"),
                    "-o", str(obj)], check=True, capture_output=True)
    raw = tmp_path / "model.bin"
    subprocess.run([require_tool("arm-none-eabi-objcopy"), "-O", "binary", "--only-section=.rodata.ofa_model_data",
                    str(obj), str(raw)], check=True)
    assert raw.read_bytes() == data
    heads = subprocess.run([require_tool("arm-none-eabi-objdump"), "-h", str(obj)], capture_output=True, text=True,
                           check=True).stdout
    align = re.search(r"\.rodata\.ofa_model_data\s+\S+\s+\S+\s+\S+\s+\S+\s+2\*\*(\d+)", heads)
    assert align and int(align.group(1)) >= 4, heads


@needs_tf
@pytest.mark.parametrize("which", ["subnet", "keras"])
def test_resolver_lists_exactly_the_models_ops(models, which):
    data = models[which][0] if which == "subnet" else models[which]
    files, _ = model_sources(data, load_board("nrf52840-dk"))
    main = files["main.cc"]
    expected = list(dict.fromkeys(_ops_by_tensorflow(data)))
    calls = re.findall(r"resolver\.(Add\w+)\(\) != kTfLiteOk\) \{ /\* (\w+) \*/", main)
    assert [op for _, op in calls] == expected
    assert [m for m, _ in calls] == [RESOLVER_METHODS[op] for op in expected]
    assert "tflite::MicroMutableOpResolver<OFA_TFLM_OP_COUNT>" in main
    assert f"#define OFA_TFLM_OP_COUNT {len(expected)}\n" in files["model_config.h"]
    # one profiler record per op, in execution order
    ops = _ops_by_tensorflow(data)
    rows = re.findall(r'^\s+\{"(\w+)", "(\w+)", (?:"[^"]*"|nullptr)\}, /\* (\d+)', main, re.M)
    assert [r[0] for r in rows] == ops and [int(r[2]) for r in rows] == list(range(len(ops)))
    assert f"#define OFA_LAYER_COUNT {len(ops)}u" in files["model_config.h"]


@needs_tf
def test_arena_predicted_for_calibrated_ops_measured_on_host_tflm_for_others(models):
    """Conv, average pool, a RESHAPE (its own TFLM buffer), FC and softmax are kinds the planner is
    calibrated for: plan_tflm predicts the arena, an upper bound of the real allocator's within
    512 B on this 2.5 KB model. A model with an op outside them (LOGISTIC) gets the host
    allocator's measurement."""
    import tf_models

    from ofa_mcu.tflm.arena import measure_arena

    data = models["keras"]
    model = describe_model(data)
    assert {x.op for x in model.layers} >= {"AVERAGE_POOL_2D", "RESHAPE", "SOFTMAX"}
    _, ctx = model_sources(data, load_board("qemu-mps2-an386"))
    arena = ctx["tflm"]["arena"]
    measured = measure_arena(data).min_arena_bytes
    assert "plan_tflm" in arena.source and measured <= arena.predicted <= measured + 512
    assert arena.cmsis_nn_scratch > 0  # non-1x1 conv (im2col) and average pool (int32 sums)

    other = tf_models.build("autoencoder", sigmoid=True)
    _, ctx = model_sources(other, load_board("qemu-mps2-an386"))
    arena = ctx["tflm"]["arena"]
    assert arena.predicted == measure_arena(other).min_arena_bytes
    assert "host TFLM" in arena.source


def test_resolver_table_names_real_tflite_ops():
    from ofa_mcu.tflite import tflite_schema  # the schema module of an installed package

    try:
        builtin = set(vars(tflite_schema().BuiltinOperator))
    except UserError as e:
        pytest.skip(str(e))
    assert set(RESOLVER_METHODS) <= builtin
    assert all(m.startswith("Add") for m in RESOLVER_METHODS.values())


def test_rejects_models_the_firmware_cannot_run(tmp_path):
    with pytest.raises(UserError, match="not a TFLite model"):
        model_sources(b"not a flatbuffer at all", load_board("qemu-mps2-an386"))


@needs_tf
def test_rejects_float_models():
    import tensorflow as tf

    m = tf.keras.Sequential([tf.keras.Input((4,), batch_size=1), tf.keras.layers.Dense(2)])
    data = tf.lite.TFLiteConverter.from_keras_model(m).convert()
    with pytest.raises(UserError, match="float32; the TFLM firmware needs an int8 model"):
        model_sources(data, load_board("qemu-mps2-an386"))


# ------------------------------------------------------------------------------------------
# rendering for every board


@pytest.fixture(scope="module")
def rendered(models, tmp_path_factory) -> dict[str, Path]:
    """The exported subnet rendered as a TFLM project for every shipped board."""
    data, _ = models["subnet"]
    root = tmp_path_factory.mktemp("tflm-projects")
    out = {}
    for board in BOARDS:
        files, ctx = model_sources(data, load_board(board), {"model_name": "tiny", "accuracy": 0.5, "sram_bytes": 12345})
        out[board] = render_project(board, root / board, files, runtime="tflm", extra_context=ctx,
                                    extra_files={"model.tflite": data})
    return out


def _regions(ld: str) -> dict[str, tuple[int, int]]:
    return {
        m.group(1): (int(m.group(2), 16), int(m.group(3)))
        for m in re.finditer(r"^\s*(\w+)\s+\(\w+\)\s*:\s*ORIGIN = (0x[0-9A-F]+), LENGTH = (\d+)", ld, re.M)
    }


@needs_tf
@pytest.mark.parametrize("board", BOARDS)
def test_render_for_every_board(rendered, models, board):
    proj = rendered[board]
    b = load_board(board)
    info = read_project_info(proj)
    assert info["runtime"] == "tflm" and info["model"] == "tiny" and info["board"] == board
    for rel in ("model/main.cc", "model/model_data.cc", "model/model_data.h", "model/model_config.h",
                "model.tflite", "firmware/tflm/ofa_tflm_platform.cc", "firmware/tflm/ofa_tflm_profiler.cc",
                "firmware/tflm/ofa_tflm_format.c", "README.md", "linker.ld", "CMakeLists.txt"):
        assert (proj / rel).is_file(), rel
    assert (proj / "model.tflite").read_bytes() == models["subnet"][0]
    # linker script: the chip's real sizes from the board YAML, the arena in the named region
    ld = (proj / "linker.ld").read_text()
    assert _regions(ld) == {r.name: (r.origin, r.size) for r in [b.memory.flash, *b.memory.ram]}
    assert re.search(r"\.arena \(NOLOAD\) :.*?\} > " + re.escape(b.memory.arena_region) + r"\n", ld, re.S)
    # CMake: TFLM from TFLM_DIR with the clear error, the glue compiled with -Werror
    cm = (proj / "CMakeLists.txt").read_text()
    assert 'message(FATAL_ERROR "TFLM_DIR is not set' in cm and "add_library(ofa_tflm STATIC" in cm
    assert "firmware/tflm/ofa_tflm_platform.cc" in cm and "-Wall -Wextra -Werror" in cm
    assert "project(ofa_" in cm and "LANGUAGES C CXX ASM" in cm
    default = "cmsis_nn" if b.runtime["tflm"].kernels == "cmsis-nn" else "reference"  # the board's kernels
    assert f'set(OFA_TFLM_KERNELS "{default}" CACHE STRING' in cm
    # README: the model, its accuracy, SRAM and flash, how to get a tree, build, flash, profile
    readme = (proj / "README.md").read_text()
    for needle in ("create_tflm_tree.py", "OPTIMIZED_KERNEL_DIR=cmsis_nn", "cmake -B build -DTFLM_DIR=",
                   "50.00% int8", "predicted peak 12,345 B", "`model.tflite`", "## Flash", "## Profile"):
        assert needle in readme, needle
    if b.flash_tool.tool == "none":
        assert f"-machine {b.qemu.machine}" in readme
    else:
        assert f"It runs `{b.flash_tool.tool}" in readme


# ------------------------------------------------------------------------------------------
# compiling what does not need TFLM, for every core


STUB_MAIN = r"""
/* Stand-in main for the link test: no TFLM, the rendered model data, config and linker script. */
#include <stdarg.h>
#include <stdint.h>

#include "bsp.h"
#include "model_config.h"
#include "model_data.h"
#include "ofa_tflm_format.h"
#include "runner.h"

static uint8_t s_arena[OFA_TFLM_ARENA_BYTES] __attribute__((section(".arena"), aligned(16)));
static int8_t s_store[OFA_INPUT_BYTES];

static int invoke(void)
{
    return ofa_model_data_len > 8u && ofa_model_data[4] == 'T' ? 0 : 1; /* "TFL3" identifier */
}

static uint32_t used(void)
{
    return (uint32_t)sizeof s_arena;
}

static void log_line(const char *format, ...)
{
    char text[64];
    va_list args;
    va_start(args, format);
    ofa_tflm_vsnprintf(text, sizeof text, format, args);
    va_end(args);
    bsp_puts(text);
}

int main(void)
{
    static runner_model_t model;
    bsp_init();
    log_line("arena %u B\r\n", (unsigned)sizeof s_arena);
    model.name = OFA_MODEL_NAME;
    model.runtime = "tflm-stub";
    model.input_bytes = OFA_INPUT_BYTES;
    model.input = (int8_t *)s_arena;
    model.input_store = s_store;
    model.output_bytes = OFA_OUTPUT_BYTES;
    model.output = (const int8_t *)s_arena;
    model.output_scale = OFA_OUTPUT_SCALE;
    model.output_zero_point = OFA_OUTPUT_ZERO_POINT;
    model.invoke = invoke;
    model.arena_bytes = OFA_TFLM_ARENA_BYTES;
    model.arena_used = used;
    runner_main(&model);
}
"""


def _cpu_flags(proj: Path) -> list[str]:
    m = re.search(r'^set\(OFA_CPU_FLAGS "([^"]*)"\)', (proj / "arm-none-eabi.cmake").read_text(), re.M)
    assert m, "toolchain file without OFA_CPU_FLAGS"
    return m.group(1).split()


def _compile_and_link(proj: Path, out: Path) -> tuple[Path | None, str]:
    """Every rendered C source that does not need TFLM, the model data and a stand-in main,
    compiled with -Werror for the board's core and linked with the rendered linker script:
    (the ELF or None, the linker's messages)."""
    gcc, gxx = require_tool("arm-none-eabi-gcc"), require_tool("arm-none-eabi-g++")
    cpu = _cpu_flags(proj)
    out.mkdir(parents=True, exist_ok=True)
    (out / "stub_main.c").write_text(STUB_MAIN)
    inc = [f"-I{proj / d}" for d in ("config", "firmware/bsp", "firmware/runner", "firmware/tflm", "model")]
    c_sources = sorted(proj.glob("firmware/bsp/*.c")) + sorted(proj.glob("firmware/runner/*.c")) + sorted(
        proj.glob("firmware/tflm/*.c")) + [out / "stub_main.c"]
    objs = []
    for src in [*c_sources, proj / "model" / "model_data.cc"]:
        obj = out / (src.stem + ".o")
        cc, flags = (gxx, CXX_FLAGS) if src.suffix == ".cc" else (gcc, C_FLAGS)
        r = subprocess.run([cc, *cpu, *flags, *inc, "-c", str(src), "-o", str(obj)], capture_output=True, text=True)
        assert r.returncode == 0, f"{src.name} ({' '.join(cpu)}):\n{r.stderr}"
        objs.append(str(obj))
    elf = out / "stub.elf"
    r = subprocess.run([gcc, *cpu, *LINK_FLAGS, f"-T{proj / 'linker.ld'}", *objs, "-o", str(elf)],
                       capture_output=True, text=True)
    return (elf if r.returncode == 0 else None), r.stderr


@needs_tf
def test_sources_without_tflm_compile_and_link_for_every_board(rendered, tmp_path):
    require_tool("arm-none-eabi-gcc")

    def one(board: str) -> tuple[str, tuple[Path | None, str]]:
        return board, _compile_and_link(rendered[board], tmp_path / board)

    with ThreadPoolExecutor(max_workers=2) as pool:
        links = dict(pool.map(one, BOARDS))
    nm = require_tool("arm-none-eabi-nm")
    arena = int(re.search(r"#define OFA_TFLM_ARENA_BYTES (\d+)u /\* predicted \+ margin \*/",
                          (rendered[BOARDS[0]] / "model" / "model_config.h").read_text()).group(1))
    for board, (elf, messages) in links.items():
        b = load_board(board)
        if elf is None:
            # Only a chip too small for this arena fails, with the linker's own message.
            assert re.search(r"region `\w+' overflowed by \d+ bytes", messages), messages
            assert b.memory.region(b.memory.arena_region).size < arena + b.memory.stack_bytes, board
            continue
        syms = subprocess.run([nm, str(elf)], capture_output=True, text=True, check=True).stdout
        addr = {m.group(2): int(m.group(1), 16) for m in re.finditer(r"^([0-9a-f]+) \w (\w+)$", syms, re.M)}
        arena_region = b.memory.region(b.memory.arena_region)
        assert arena_region.origin <= addr["__arena_start__"] < addr["__arena_end__"] <= arena_region.origin + arena_region.size
        assert addr["ofa_model_data"] % 16 == 0
        flash = b.memory.flash
        assert flash.origin <= addr["ofa_model_data"] < flash.origin + flash.size
    assert links["qemu-microbit"][0] is None  # 16 KB of RAM: this model's arena does not fit
    assert sum(elf is not None for elf, _ in links.values()) == len(BOARDS) - 1


# stand-in declarations of the TFLM platform API, in its two generations
STUB_HEADERS_COMMON = {
    "tensorflow/lite/micro/micro_time.h": """
        #include <stdint.h>
        namespace tflite {
        uint32_t ticks_per_second();
        uint32_t GetCurrentTimeTicks();
        }
    """,
    "tensorflow/lite/micro/system_setup.h": "namespace tflite { void InitializeTarget(); }\n",
    "tensorflow/lite/micro/micro_profiler_interface.h": """
        #include <stdint.h>
        namespace tflite {
        class MicroProfilerInterface {
        public:
            virtual ~MicroProfilerInterface() {}
            virtual uint32_t BeginEvent(const char *tag) = 0;
            virtual void EndEvent(uint32_t event_handle) = 0;
        };
        }
    """,
}
STUB_DEBUG_LOG = {
    0: 'extern "C" void DebugLog(const char *s);\n',
    1: """
        #include <stdarg.h>
        #include <stddef.h>
        extern "C" void DebugLog(const char *format, va_list args);
        extern "C" int DebugVsnprintf(char *buffer, size_t buf_size, const char *format, va_list vlist);
    """,
}


def _stub_tflm(root: Path, va_list: int) -> Path:
    for rel, text in {**STUB_HEADERS_COMMON, "tensorflow/lite/micro/debug_log.h": STUB_DEBUG_LOG[va_list]}.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return root


@pytest.mark.parametrize("va_list", [0, 1])
def test_glue_compiles_against_both_tflm_logging_apis(tmp_path, va_list):
    gxx = require_tool("arm-none-eabi-g++")
    stub = _stub_tflm(tmp_path / "tflm", va_list)
    cores = {}
    for b in list_boards():
        flags = b.gcc_cpu_flags() + (["-masm-syntax-unified"] if b.core in ("cortex-m0", "cortex-m0plus") else [])
        cores.setdefault(tuple(flags), b.name)
    for flags in cores:
        for src in sorted(GLUE.glob("*.cc")):
            r = subprocess.run(
                [gxx, *flags, *CXX_FLAGS, f"-DOFA_TFLM_DEBUGLOG_VA_LIST={va_list}", f"-I{GLUE}",
                 f"-I{firmware_dir() / 'bsp'}", f"-I{firmware_dir() / 'runner'}", "-isystem", str(stub),
                 "-c", str(src), "-o", str(tmp_path / "x.o")], capture_output=True, text=True)
            assert r.returncode == 0, f"{src.name} {' '.join(flags)}:\n{r.stderr}"


FAKE_TFLM_MAIN = r"""
/* The TFLM glue without TFLM: a fake "interpreter" emits the profiler events TFLM's MicroGraph
 * would for three ops (one of them with a nested event, one unexpected), and logs through DebugLog. */
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "bsp.h"
#include "ofa_tflm_profiler.h"
#include "runner.h"
#include "tensorflow/lite/micro/debug_log.h"
#include "tensorflow/lite/micro/micro_time.h"

namespace {
alignas(16) uint8_t s_arena[4096] __attribute__((section(".arena")));
int8_t s_store[16];
int8_t s_out[4];
const ofa::tflm::LayerInfo kLayers[3] = {
    {"CONV_2D", "conv", "stem"}, {"DEPTHWISE_CONV_2D", "depthwise", "first.dw"}, {"MEAN", "mean", "pool"}};
ofa::tflm::NoDestroy<ofa::tflm::LayerProfiler> s_storage;
ofa::tflm::LayerProfiler *s_profiler;

void log(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    DebugLog(format, args);
    va_end(args);
}

volatile int32_t s_sink;

void work(uint32_t n)
{
    for (uint32_t i = 0; i < n; ++i) {
        s_sink = s_sink + (int32_t)i;
    }
}

int invoke(void)
{
    s_profiler->Reset();
    uint32_t a = s_profiler->BeginEvent("CONV_2D");
    work(3000);
    s_profiler->EndEvent(a);
    uint32_t b = s_profiler->BeginEvent("DEPTHWISE_CONV_2D");
    uint32_t nested = s_profiler->BeginEvent("ADD"); /* inside b: not a layer */
    work(1000);
    s_profiler->EndEvent(nested);
    s_profiler->EndEvent(b);
    uint32_t c = s_profiler->BeginEvent("SOFTMAX"); /* the table expects MEAN here */
    work(10);
    s_profiler->EndEvent(c);
    for (int i = 0; i < 4; ++i) {
        s_out[i] = (int8_t)(s_store[i] + 1);
    }
    return 0;
}

uint32_t used(void)
{
    return 1234u;
}
} // namespace

int main(void)
{
    static runner_model_t model;
    bsp_init();
    s_profiler = s_storage.Construct(kLayers, 3u);
    log("fake-tflm %s %d %u %5.2f|%-4x|%c%%\r\n", "log", -42, (unsigned)tflite::ticks_per_second(), 3.14159, 0xab, 'z');
    model.name = "glue";
    model.runtime = "tflm";
    model.input_bytes = 16;
    model.input = s_store;
    model.input_store = s_store;
    model.output_bytes = 4;
    model.output = s_out;
    model.invoke = invoke;
    model.arena_bytes = sizeof s_arena;
    model.arena_used = used;
    runner_main(&model);
}
"""


def test_glue_reports_layers_through_the_protocol_in_qemu(tmp_path):
    """Profiler -> runner hooks -> ofa-layers%, DebugLog -> UART, arena measurement, in QEMU."""
    require_tool("arm-none-eabi-gcc")
    require_tool("cmake")
    require_tool("qemu-system-arm")
    from ofa_mcu.profiler import Device
    from ofa_mcu.qemu import run_qemu

    stubs = {rel: textwrap.dedent(text) for rel, text in {**STUB_HEADERS_COMMON,
                                                           "tensorflow/lite/micro/debug_log.h": STUB_DEBUG_LOG[1]}.items()}
    proj = render_project(
        "qemu-mps2-an386", tmp_path / "glue", {"main.cc": FAKE_TFLM_MAIN, **stubs}, runtime="tflm-glue",
        firmware_subdirs=("tflm",), extra_context={"defines": {"OFA_TFLM_DEBUGLOG_VA_LIST": 1}},
    )
    elf = build_project(proj, jobs=2).elf
    with run_qemu(elf, load_board("qemu-mps2-an386"), timeout_s=60) as session, Device(session.url, timeout_s=10) as dev:
        dev.sync()
        dev.load(bytes(range(16)))
        dev.infer(2, 1, timeout_s=20)
        layers, dropped = dev.layers()
        assert dropped == 0
        assert [(x.index, x.kind, x.name) for x in layers] == [
            (0, "conv", "stem"), (1, "depthwise", "first.dw"), (2, "SOFTMAX", None)]
        assert layers[0].cycles > layers[1].cycles > layers[2].cycles > 0
        assert dev.outputs() == [1, 2, 3, 4]
        mem = dev.memory()
        assert mem["arena_used"] == 1234
        assert mem["arena_bytes"] == 4096 and mem["stack_used"] > 0
    # the start-up log line went out on the UART before the banner: read it from a fresh run
    with run_qemu(elf, load_board("qemu-mps2-an386"), timeout_s=60) as session:
        import serial

        with serial.serial_for_url(session.url, timeout=5) as port:
            text = b""
            while b"m-ready" not in text:
                chunk = port.read(64)
                assert chunk, text
                text += chunk
    assert b"fake-tflm log -42 25000000  3.14|ab  |z%\r\n" in text


# ------------------------------------------------------------------------------------------
# host checks of the glue's C parts


HOST_DRIVER = r"""
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ofa_tflm_format.h"

static int failures;

/* ofa_tflm_vsnprintf and the C library's vsnprintf must agree. */
static void check(const char *format, ...)
{
    char ours[96], libc[96];
    va_list a, b;
    va_start(a, format);
    va_copy(b, a);
    int n1 = ofa_tflm_vsnprintf(ours, sizeof ours, format, a);
    int n2 = vsnprintf(libc, sizeof libc, format, b);
    va_end(b);
    va_end(a);
    if (n1 != n2 || strcmp(ours, libc) != 0) {
        printf("MISMATCH %s: ours [%s] (%d), libc [%s] (%d)\n", format, ours, n1, libc, n2);
        ++failures;
    }
}

static int format_into(char *buf, size_t size, const char *format, ...)
{
    va_list a;
    va_start(a, format);
    int n = ofa_tflm_vsnprintf(buf, size, format, a);
    va_end(a);
    return n;
}

int main(void)
{
    check("plain text");
    check("%d %i %u", -12345, 0, 4000000000u);
    check("%5d|%-5d|%05d|%+d|% d|%d", 42, 42, -42, 7, 7, -2147483647 - 1);
    check("%x %X %08x", 0xdeadbeefu, 0xabcu, 0x1fu);
    check("%o %ld %lu %lld %llu", 8u, -5L, 5UL, -9000000000LL, 18000000000ULL);
    check("%zu %zd", (size_t)123456, (ptrdiff_t)-3);
    check("%hd %hu %hhd %hhu", 70000, 70000, 300, 300);
    check("%c%c|%5c|%-3c|", 'a', 'b', 'c', 'd');
    check("%s|%10s|%-10s|%.3s|%*s|%-*s|", "abc", "right", "left", "truncate", 6, "w", 4, "l");
    check("%.0d|%.3d|%5.3d", 0, 7, -7);
    check("%f %.2f %.0f %8.3f %-8.1f| %+.1f", 3.14159, 2.71828, 2.4, -1.25, 0.26, 1.0);
    check("%.6f %.3f %f", 123456.789, 0.0005, 1e-7);
    check("100%% %d%%", 5);
    char small[5];
    if (format_into(small, sizeof small, "%s-%d", "abcdefgh", 12) != 11 || strcmp(small, "abcd") != 0) {
        printf("truncation: [%s]\n", small);
        ++failures;
    }
    printf("failures %d\n", failures);
    return failures != 0;
}
"""


def test_log_formatter_matches_the_c_library(tmp_path):
    gcc = require_tool("gcc")
    driver = tmp_path / "driver.c"
    driver.write_text(HOST_DRIVER)
    exe = tmp_path / "driver"
    r = subprocess.run([gcc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{GLUE}", str(driver),
                        str(GLUE / "ofa_tflm_format.c"), "-o", str(exe)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip().endswith("failures 0"), run.stdout


# ------------------------------------------------------------------------------------------
# CMake: the TFLM tree


@pytest.fixture(scope="module")
def toolchain():
    require_tool("arm-none-eabi-gcc")
    require_tool("cmake")


def test_missing_or_wrong_tflm_dir_is_a_clear_cmake_error(toolchain, tmp_path, monkeypatch):
    monkeypatch.delenv("TFLM_DIR", raising=False)
    monkeypatch.delenv("CMSIS_NN_DIR", raising=False)
    proj = render_project("qemu-mps2-an386", tmp_path / "proj", {"main.cc": "int main() { return 0; }\n"},
                          runtime="tflm", extra_context={"cmake_template": "tflm/CMakeLists.txt.j2"})

    def fails(match: str, **defines: str) -> None:
        shutil.rmtree(proj / "build", ignore_errors=True)
        with pytest.raises(WorkFailed, match=match) as err:
            build_project(proj, defines=defines)
        assert "\n" not in str(err.value)

    fails(r"TFLM_DIR is not set: a TFLM source tree is required for runtime 'tflm'")
    fails(r"TFLM_DIR=\S+ is not a TFLM source tree: \S+/tensorflow/lite/micro/micro_interpreter\.h does not exist",
          TFLM_DIR=str(tmp_path))
    header = "tensorflow/lite/micro/micro_interpreter.h"
    checkout = touch_files(tmp_path / "checkout", header, "tensorflow/lite/micro/tools/make/Makefile")
    fails(r"is a tflite-micro checkout, not a generated TFLM tree.*create_tflm_tree\.py", TFLM_DIR=str(checkout))
    partial = touch_files(tmp_path / "partial", header)
    fails(r"is not a complete TFLM tree: .*flatbuffers\.h does not exist", TFLM_DIR=str(partial))
    arduino_like = touch_files(tmp_path / "arduino", header, "third_party/flatbuffers/include/flatbuffers/flatbuffers.h",
                          "tensorflow/lite/micro/debug_log.h", "tensorflow/lite/micro/micro_interpreter.cpp",
                          "tensorflow/lite/micro/kernels/cmsis_nn/conv.cpp", "tensorflow/lite/micro/kernels/add.cpp")
    fails(r"OFA_TFLM_KERNELS=reference, but \S+ ships only the CMSIS-NN versions of these kernels: conv",
          TFLM_DIR=str(arduino_like), OFA_TFLM_KERNELS="reference")
    # the emulated board's default is what the documented tree ships: CMSIS-NN
    fails(r"OFA_TFLM_KERNELS=cmsis_nn, but no CMSIS-NN sources", TFLM_DIR=str(arduino_like))
    fails(r"OFA_TFLM_KERNELS=cmsis_nn, but no CMSIS-NN sources", TFLM_DIR=str(arduino_like),
          OFA_TFLM_KERNELS="cmsis_nn")
    fails(r"CMSIS_NN_DIR=\S+ is not a CMSIS-NN source tree", TFLM_DIR=str(arduino_like), CMSIS_NN_DIR=str(tmp_path))
    fails(r"OFA_TFLM_KERNELS=fast: expected auto, cmsis_nn or reference", TFLM_DIR=str(arduino_like),
          OFA_TFLM_KERNELS="fast")


# ------------------------------------------------------------------------------------------
# with a real TFLM tree


def _tflm_dir() -> Path:
    d = os.environ.get("TFLM_DIR")
    if not d:
        pytest.skip("TFLM_DIR is not set (a TFLM source tree; see the project README)")
    return Path(d)


def _host_outputs(data: bytes, inputs: list[bytes]) -> list[list[int]]:
    from ofa_mcu.tflm.host import TflmRunner

    runner = TflmRunner(data)
    x = np.stack([np.frombuffer(b, np.int8).reshape(runner.input.shape[1:]) for b in inputs])
    return runner.run_int8(x).astype(int).tolist()


@pytest.mark.tflm_tree
@pytest.mark.slow
def test_full_tflm_firmware_in_qemu(models, tmp_path):
    """Build against $TFLM_DIR for qemu-mps2-an386, profile in QEMU, compare with host TFLM."""
    tflm = _tflm_dir()
    require_tool("arm-none-eabi-gcc")
    require_tool("cmake")
    require_tool("qemu-system-arm")
    data, ir = models["subnet"]
    header = (tflm / "tensorflow/lite/micro/micro_mutable_op_resolver.h").read_text()
    have = set(re.findall(r"TfLiteStatus (Add\w+)\(", header))
    assert not set(RESOLVER_METHODS.values()) - have, "resolver methods this TFLM tree does not have"
    files, ctx = model_sources(data, load_board("qemu-mps2-an386"), {"model_name": "tiny"})
    proj = render_project("qemu-mps2-an386", tmp_path / "fw", files, runtime="tflm", extra_context=ctx,
                          extra_files={"model.tflite": data})
    # the shared cache of compiled TFLM (a fresh one here, unless a prebuilt library is given)
    defines = {"TFLM_DIR": str(tflm), "OFA_TFLM_CACHE_DIR": str(tmp_path / "cache")}
    for var in ("OFA_TFLM_KERNELS", "OFA_TFLM_LIBRARY", "CMSIS_NN_DIR"):  # optional, passed through
        if os.environ.get(var):
            defines[var] = os.environ[var]
    res = build_project(proj, defines=defines, timeout_s=3600)
    assert res.size.text > len(data)
    assert res.kernels in ("reference", "cmsis-nn") and res.record["tflm_dir"] == str(tflm)
    if not os.environ.get("OFA_TFLM_LIBRARY"):
        assert res.record["library"] == "compiled, stored in the cache"
        assert len(list((tmp_path / "cache").glob("*/libofa_tflm.a"))) == 1
    result, expected = _profile_against_host(res.elf, data, ctx, seed=3)
    # bit for bit: the global pooling is AVERAGE_POOL_2D, whose rounding is the same in every TFLM
    # version and in CMSIS-NN (the MEAN it replaced differed by 1 on the February 2023 tree)
    assert result.outputs == expected
    assert [x.kind for x in result.layers] == [op.kind for op in ir.ops]
    assert [x.name for x in result.layers] == [op.name for op in ir.ops]
    assert all(x.cycles > 0 for x in result.layers)
    mem = result.memory
    arena = ctx["tflm"]["arena"]
    assert 0 < mem["arena_used"] <= mem["arena_bytes"] and mem["arena_used"] % 16 == 0
    reserved = arena.bytes_cmsis_nn if res.kernels == "cmsis-nn" else arena.bytes_reference
    assert mem["arena_bytes"] == reserved  # the arena of the kernels actually built
    assert mem["arena_used"] <= arena.predicted + arena.margin  # the host-calibrated prediction holds
    assert 0 < mem["stack_used"] < mem["stack_bytes"]

    # A Keras model (conv, average pool, reshape, FC, softmax) is bit-exact too; its firmware
    # links the TFLM library the first build stored in the cache.
    keras = models["keras"]
    files2, ctx2 = model_sources(keras, load_board("qemu-mps2-an386"), {"model_name": "keras"})
    proj2 = render_project("qemu-mps2-an386", tmp_path / "fw2", files2, runtime="tflm", extra_context=ctx2,
                           extra_files={"model.tflite": keras})
    res2 = build_project(proj2, defines=defines)
    assert res2.kernels == res.kernels
    if not os.environ.get("OFA_TFLM_LIBRARY"):
        assert res2.record["library"] == "cache"
    result2, expected2 = _profile_against_host(res2.elf, keras, ctx2, seed=4)
    assert result2.outputs == expected2
    assert [x.kind for x in result2.layers] == ["conv", "avgpool", "reshape", "fc", "softmax"]


def _profile_against_host(elf: Path, data: bytes, ctx: dict[str, Any], seed: int) -> tuple[Any, list[list[int]]]:
    """Profile ``elf`` in QEMU on three random inputs; (the profile, host TFLM's outputs)."""
    from ofa_mcu.profiler import profile
    from ofa_mcu.qemu import run_qemu

    rng = np.random.default_rng(seed)
    n_in = int(np.prod(ctx["tflm"]["model"].input.shape))
    inputs = [rng.integers(-128, 128, n_in, dtype=np.int8).tobytes() for _ in range(3)]
    with run_qemu(elf, load_board("qemu-mps2-an386"), timeout_s=600) as session:
        result = profile(session.url, inputs, runs=2, warmup=1, timeout_s=30)
    assert result.outputs is not None and result.runtime == "tflm"
    return result, _host_outputs(data, inputs)
