"""The TFLM runtime as sources for the user's own firmware: the ``.tflite`` as a const array and the
``ofa_model`` API over a ``MicroInterpreter`` that registers only the model's ops
(``templates/library/``).

TFLM itself is not part of the library: the user's firmware builds it (a tree made by
``create_tflm_tree.py``, the Arduino library, Zephyr's tflite-micro module); the library's CMake
target links it (``TFLM_DIR`` or an existing target). The arena is sized like the firmware
project's (:func:`ofa_mcu.tflm.codegen.arena_size`): the calibrated prediction plus its margin, with
room for the CMSIS-NN scratch buffers so either kernel set fits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ofa_mcu import __version__
from ofa_mcu.codegen import render_all
from ofa_mcu.tflm.codegen import TflmModel, arena_size, describe_model

MODEL_TEMPLATES = (
    ("ofa_model.h", "library/ofa_model.h.j2"),
    ("ofa_model.cpp", "library/tflm_model.cpp.j2"),
    ("ofa_model_data.h", "library/tflm_model_data.h.j2"),
    ("ofa_model_data.cpp", "library/tflm_model_data.cpp.j2"),
)


def library_files(model: bytes, board: Any, meta: Mapping[str, Any], *, name: str
                  ) -> tuple[dict[str, str], dict[str, Any], TflmModel]:
    """(files: ``ofa_model.h``, ``ofa_model.cpp``, ``ofa_model_data.h/.cpp``, the API facts of
    ``ofa_model.h``, the :class:`TflmModel`). ``meta`` as for :func:`~ofa_mcu.tflm.codegen.model_sources`."""
    described = describe_model(bytes(model), meta, origin=name)
    arena = arena_size(described, meta, board)
    api = {
        "generator": f"ofa-mcu {__version__}", "name": name, "runtime": "tflm", "sha256": described.sha256,
        "space": meta.get("space") if isinstance(meta.get("space"), str) else None,
        "subnet_hash": meta.get("subnet_hash"),
        "arena_bytes": arena.bytes_cmsis_nn,
        "arena_note": f"TFLM's tensor arena: predicted {arena.predicted} B ({arena.source}) + margin "
                      f"{arena.margin} B + {arena.cmsis_nn_scratch} B for CMSIS-NN scratch buffers; with TFLM's "
                      f"reference kernels {arena.bytes_reference} B are enough",
        "runtime_state": "the interpreter's persistent data",
        "init_failure": "-1 schema, -2 op registration, -3 AllocateTensors (arena too small or an op missing "
                        "from your TFLM build; TFLM logs which through DebugLog), -4 tensors differ from this header",
        "input": {"shape": list(described.input.shape), "bytes": described.input.bytes,
                  "scale": described.input.scale, "zero_point": described.input.zero_point},
        "output": {"shape": list(described.output.shape), "bytes": described.output.bytes,
                   "scale": described.output.scale, "zero_point": described.output.zero_point},
        "layers": len(described.layers), "macs": described.macs, "const_bytes": described.bytes,
        "kernels": [op["op"] for op in described.ops],
        "layer_list": [{"index": x.index, "kind": x.kind, "name": x.name or x.op, "macs": x.macs}
                       for x in described.layers],
    }
    files = render_all(MODEL_TEMPLATES, {"api": api, "model": described, "arena": arena}, "the TFLM library")
    return files, api, described
