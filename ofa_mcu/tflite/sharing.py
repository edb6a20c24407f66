"""Weight sharing between INT8 models of one supernet: how many int8 weight bytes are identical.

With per-output-channel int8 weights, BatchNorm folding scales a channel's weights and its scale
by the same factor, so the quantized channel ``round(127 * w / max|w|)`` does not depend on the
subnet's BatchNorm statistics: the same channel of the same block, with the same inputs and
kernel, has identical int8 bytes in two subnets. :func:`weight_sharing` measures this on real
``.tflite`` files: every output channel of every CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED
weight tensor (a row of the OHWI tensor; a column of the depthwise 1HWC tensor) is hashed, and the
bytes of channels already seen (in an earlier model, or earlier in the same one) are what storing
identical channels once would save. Scales, zero points and biases are not shared (they differ
with the BatchNorm statistics).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from ofa_mcu.tflite.reader import Graph

_WEIGHT_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def weight_channels(graph: Graph) -> list[tuple[str, str, bytes]]:
    """(op, weight tensor name, channel bytes) for every output channel of every int8 weight tensor."""
    out: list[tuple[str, str, bytes]] = []
    for op in graph.ops:
        if op.opcode not in _WEIGHT_OPS or len(op.inputs) < 2 or op.inputs[1] < 0:
            continue
        w = graph.tensors[op.inputs[1]]
        if w.data is None or w.dtype != "int8":
            continue
        arr = np.asarray(w.data)
        if op.opcode == "DEPTHWISE_CONV_2D":  # 1 x H x W x C: channel c is [..., c]
            chans = [np.ascontiguousarray(arr[..., c]) for c in range(arr.shape[-1])]
        else:  # O x ... : channel o is row o
            chans = [np.ascontiguousarray(arr[o]) for o in range(arr.shape[0])]
        out += [(op.opcode, w.name, c.tobytes()) for c in chans]
    return out


def weight_sharing(graphs: Sequence[Graph], names: Sequence[str] | None = None) -> dict[str, Any]:
    """Int8 weight bytes of the models stored separately vs with identical channels stored once."""
    names = list(names or [f"model{i}" for i in range(len(graphs))])
    seen: set[tuple[str, int, bytes]] = set()
    per_model = []
    total = unique = 0
    for name, g in zip(names, graphs):
        own = shared = 0
        for opcode, _tensor, data in weight_channels(g):
            key = (opcode, len(data), hashlib.sha256(data).digest())
            own += len(data)
            if key in seen:
                shared += len(data)
            else:
                seen.add(key)
        total += own
        unique += own - shared
        per_model.append({"model": name, "weight_bytes": own, "bytes_already_stored": shared})
    return {"models": per_model, "weight_bytes_separate": total, "weight_bytes_shared": unique,
            "saved_bytes": total - unique, "saved_pct": round(100.0 * (total - unique) / total, 2) if total else 0.0}
