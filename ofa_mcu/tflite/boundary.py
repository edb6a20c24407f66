"""An int8 graph with float input or output -> the same graph with int8 input and output.

TensorFlow's converter, asked for full-integer quantization without ``inference_input_type`` /
``inference_output_type``, keeps a float input and output: a QUANTIZE (float32 -> int8) first
and a DEQUANTIZE (int8 -> float32) last around an int8 graph. The firmware feeds the model int8
bytes and reports int8 outputs (dequantized with the output's scale and zero point), so
:func:`int8_boundary` removes exactly those two ops: the graph's input becomes the QUANTIZE's
int8 output and its output the DEQUANTIZE's int8 input. Nothing else changes (the ops left run
on the same int8 tensors, so results are bit for bit those of the original model's int8 part).
The flatbuffer is re-packed with the schema's object API (as :mod:`ofa_mcu.tflite.metadata`
does); unused tensors are dropped and the indices renumbered, signatures (which name the removed
float tensors) are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ofa_mcu.errors import UserError
from ofa_mcu.tflite.reader import Graph, parse_tflite, tflite_schema

_FILE_IDENTIFIER = b"TFL3"
_FLOATS = ("float32", "float16")


@dataclass
class Boundary:
    """What :func:`int8_boundary` did: the model to deploy and the ops it removed."""

    model: bytes
    removed: list[str] = field(default_factory=list)  # e.g. "op 0 QUANTIZE (input float32 -> int8)"

    @property
    def changed(self) -> bool:
        return bool(self.removed)


def _boundary_ops(graph: Graph) -> tuple[int | None, int | None]:
    """Indices of a QUANTIZE float -> int8 reading the graph input and a DEQUANTIZE int8 -> float
    writing the graph output (None when absent)."""
    t = graph.tensors
    q = d = None
    if len(graph.inputs) == 1 and len(graph.outputs) == 1 and graph.ops:
        first, last = graph.ops[0], graph.ops[-1]
        x = graph.inputs[0]
        if (first.opcode == "QUANTIZE" and first.inputs[:1] == (x,) and t[x].dtype in _FLOATS
                and t[first.outputs[0]].dtype == "int8" and len(graph.consumers(x)) == 1):
            q = first.index
        y = graph.outputs[0]
        if (last.opcode == "DEQUANTIZE" and last.outputs == (y,) and t[y].dtype in _FLOATS
                and t[last.inputs[0]].dtype == "int8" and last.index != q
                and not any(y in op.inputs for op in graph.ops)):
            d = last.index
    return q, d


def int8_boundary(data: bytes, origin: str = "model") -> Boundary:
    """``data`` with the float QUANTIZE at its input and the float DEQUANTIZE at its output removed
    (unchanged bytes when it has neither)."""
    graph = parse_tflite(data, origin=origin)
    q, d = _boundary_ops(graph)
    if q is None and d is None:
        return Boundary(bytes(data))
    import flatbuffers

    schema = tflite_schema()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(bytes(data), 0))
    sg = model.subgraphs[0]
    removed: list[str] = []
    drop = {i for i in (q, d) if i is not None}
    if q is not None:
        sg.inputs = [int(graph.ops[q].outputs[0])]
        removed.append(f"op {q} QUANTIZE (input {graph.tensors[graph.inputs[0]].dtype} -> int8)")
    if d is not None:
        sg.outputs = [int(graph.ops[d].inputs[0])]
        removed.append(f"op {d} DEQUANTIZE (output int8 -> {graph.tensors[graph.outputs[0]].dtype})")
    sg.operators = [op for k, op in enumerate(sg.operators) if k not in drop]
    used = sorted({int(i) for op in sg.operators for i in (*op.inputs, *op.outputs) if i >= 0}
                  | {int(i) for i in sg.inputs} | {int(i) for i in sg.outputs})
    new_index = {old: new for new, old in enumerate(used)}
    sg.tensors = [sg.tensors[i] for i in used]
    for op in sg.operators:
        op.inputs = [new_index[int(i)] if i >= 0 else -1 for i in op.inputs]
        op.outputs = [new_index[int(i)] for i in op.outputs]
    sg.inputs = [new_index[int(i)] for i in sg.inputs]
    sg.outputs = [new_index[int(i)] for i in sg.outputs]
    model.signatureDefs = []
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=_FILE_IDENTIFIER)
    out = bytes(builder.Output())
    g2 = parse_tflite(out, origin=origin)
    if any(g2.tensors[i].dtype != "int8" for i in (*g2.inputs, *g2.outputs)):  # pragma: no cover - checked above
        raise UserError(f"{origin}: removing the float input/output ops did not leave an int8 model")
    return Boundary(out, removed)
