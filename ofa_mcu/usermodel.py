"""A user's int8 ``.tflite`` prepared for one runtime: what ``analyze --tflite`` and
``compile --tflite`` deploy.

:func:`load_user_model` reads the file (one-line errors for anything unreadable), removes a float
QUANTIZE at the input and a float DEQUANTIZE at the output (:func:`ofa_mcu.tflite.int8_boundary`),
checks that the runtime runs every op (:func:`check_runtime`: the first op it does not run is
named with its operator index and the runtime(s) that do run it) and builds the layer IR from the
graph alone (input shape and quantization from the tensors; layer names from ofa-mcu metadata
when the model is one of our exports). Ops outside the layer IR become ``other`` ops for a
runtime that runs any op its resolver knows (tflm).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ofa_mcu import ir as irmod
from ofa_mcu.errors import UserError
from ofa_mcu.runtimes import get_runtime, runtimes
from ofa_mcu.tflite import Graph, int8_boundary, model_subnet, parse_tflite, read_tflite_bytes, to_ir


@dataclass
class UserModel:
    """The model to deploy (``model``: int8 input and output), its parsed graph and layer IR."""

    path: str
    original_bytes: int
    model: bytes
    graph: Graph
    ir: irmod.Graph
    removed: list[str] = field(default_factory=list)  # boundary ops removed (int8_boundary)

    def to_dict(self) -> dict:
        t = self.graph.tensors
        x, y = t[self.graph.inputs[0]], t[self.graph.outputs[0]]
        return {"path": self.path, "original_bytes": self.original_bytes, "model_bytes": len(self.model),
                "removed_ops": self.removed, "ops": [op.opcode for op in self.graph.ops],
                "input": {"shape": list(x.shape), "dtype": x.dtype, "scale": float(x.scale[0]) if x.scale.size else None,
                          "zero_point": int(x.zero_point[0]) if x.zero_point.size else None},
                "output": {"shape": list(y.shape), "dtype": y.dtype, "scale": float(y.scale[0]) if y.scale.size else None,
                           "zero_point": int(y.zero_point[0]) if y.zero_point.size else None}}


def check_runtime(graph: Graph, runtime: str, origin: str = "model") -> None:
    """``UserError`` (one line) when ``runtime`` cannot run ``graph``: the first op outside the
    runtime's ops, with its operator index and the runtimes that run it, then the runtime's own
    checks (options, tensor types)."""
    rt = get_runtime(runtime)
    if rt.ops is not None:
        for op in graph.ops:
            if op.opcode in rt.ops:
                continue
            others = [r.name for r in runtimes() if r.name != rt.name and (r.ops is None or op.opcode in r.ops)]
            hint = (f"; the {' and '.join(others)} runtime runs it (--runtime {others[0]})" if others
                    else "; no ofa-mcu runtime runs it")
            raise UserError(f"{origin}: operator {op.index} ({op.opcode}) is not supported by the {rt.name} "
                            f"runtime{hint}")
    if rt.check_model is not None:
        rt.check_model(graph, origin)


def model_ir(data: bytes, graph: Graph, origin: str, other_ops: bool = True) -> irmod.Graph:
    """The layer IR of a parsed model (layer names from its ofa-mcu metadata, if it has any)."""
    found = model_subnet(data, origin)
    space, cfg = found if found is not None else (None, None)
    names = [op.name for op in irmod.build_graph(space, cfg).ops] if found is not None else None
    return to_ir(graph, space=space, config=cfg, names=names, origin=origin, other_ops=other_ops).graph


def load_user_model(path: str, runtime: str) -> UserModel:
    """Read ``path`` and prepare it for ``runtime`` (see the module docstring)."""
    data = read_tflite_bytes(path)
    boundary = int8_boundary(data, origin=path)
    graph = parse_tflite(boundary.model, origin=path)
    check_runtime(graph, runtime, path)
    ir = model_ir(boundary.model, graph, path)
    return UserModel(path, len(data), boundary.model, graph, ir, boundary.removed)
