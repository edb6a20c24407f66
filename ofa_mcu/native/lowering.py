"""Lower a parsed ``.tflite`` to calls of the native int8 kernels (``firmware/kernels``).

:func:`lower_op` / :func:`lower_graph` map each op to one call of a C kernel
(:class:`KernelCall`): the C function, its parameter struct type, scalar fields and const arrays
named exactly like the struct fields in ``ofa_kernels.h``, so the code generator can emit
``static const ofa_conv_params_t opN = {...};`` and ``ofa_conv_s8(&opN, arena + a, arena + b);``.
The requantization constants come from :mod:`ofa_mcu.native.requant` (TFLM's arithmetic), the
padding from :mod:`ofa_mcu.padding`.

Unsupported models (an op or option the kernels do not implement) raise
:class:`~ofa_mcu.errors.UserError` with one clear line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ofa_mcu.errors import UserError
from ofa_mcu.native.requant import (
    SOFTMAX_OUTPUT_SCALE,
    SOFTMAX_OUTPUT_ZERO_POINT,
    activation_range,
    add_multipliers,
    conv_multipliers,
    fc_multiplier,
    mean_multiplier,
    softmax_params,
)
from ofa_mcu.padding import compute_padding
from ofa_mcu.planner.native import depthwise_fits_in_place, inplace_depthwise_scratch_bytes
from ofa_mcu.tflite.reader import Graph, Op, Tensor

#: Builtin ops the native kernels implement (with the restrictions :func:`check_supported` checks).
SUPPORTED_OPS = (
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "ADD",
    "MEAN",
    "AVERAGE_POOL_2D",
    "MAX_POOL_2D",
    "PAD",
    "PADV2",
    "CONCATENATION",
    "RESHAPE",
    "SOFTMAX",
)
#: Longest softmax row the kernel takes (its Q12.19 sum of exponentials stays within int32).
SOFTMAX_MAX_DEPTH = 4095
#: The pooling ops, lowered alike: (kernel function, its parameter struct).
_POOL_KERNELS = {
    "AVERAGE_POOL_2D": ("ofa_avgpool_s8", "ofa_avgpool_params_t"),
    "MAX_POOL_2D": ("ofa_maxpool_s8", "ofa_pool_params_t"),
}


@dataclass(frozen=True)
class KernelCall:
    """One generated line: ``function(&params, in..., out)``.

    ``params`` (ints) and ``arrays`` (numpy: int8 ``weights``, int32 ``bias``, int32
    ``out_mult``, int8 ``out_shift``) are named like the fields of ``params_type`` in
    ``firmware/kernels/ofa_kernels.h``; an absent bias is simply missing from ``arrays``
    (emit NULL). ``inputs`` / ``outputs`` are activation tensor indices in argument order.
    ``function`` is None for RESHAPE (same bytes: alias or copy the buffer).
    ``inplace_ok``: a depthwise conv that ``ofa_depthwise_s8_inplace`` can run, given a
    scratch of ``scratch_bytes``. ``arena_inputs``: the kernel takes the arena base and finds its
    inputs at planned offsets (CONCATENATION: the code generator fills ``in_offsets``).
    """

    op_index: int
    opcode: str
    function: str | None
    params_type: str | None
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    params: dict[str, int]
    arrays: dict[str, np.ndarray]
    macs: int = 0
    inplace_ok: bool = False
    scratch_bytes: int = 0
    arena_inputs: bool = False


_U16 = (0, 65535)
_U8 = (0, 255)


def _fits(problems: list[str], where: str, name: str, value: int, lim: tuple[int, int]) -> None:
    if not lim[0] <= value <= lim[1]:
        problems.append(f"{where}: {name}={value} outside [{lim[0]}, {lim[1]}]")


def _op_problems(graph: Graph, op: Op) -> list[str]:
    """Why ``op`` cannot run on the native kernels (empty when it can)."""
    where = f"op {op.index} {op.opcode}"
    if op.opcode not in SUPPORTED_OPS:
        return [f"{where}: not supported by the native runtime (supported: {', '.join(SUPPORTED_OPS)})"]
    p: list[str] = []
    t = graph.tensors
    data_ins = [i for i in op.inputs if i >= 0 and not t[i].is_constant]
    for i in (*data_ins, *op.outputs):
        if t[i].dtype != "int8":
            p.append(f"{where}: tensor {t[i].name!r} is {t[i].dtype}, the native kernels need int8")
        elif t[i].scale.size != 1 or t[i].zero_point.size != 1:
            p.append(f"{where}: activation tensor {t[i].name!r} is not per-tensor quantized")
    act = op.options.get("activation", "NONE")
    if act not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
        p.append(f"{where}: fused activation {act} not supported")
    if p:
        return p

    if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        x, w = t[op.inputs[0]], t[op.inputs[1]]
        y = t[op.outputs[0]]
        if len(x.shape) != 4 or x.shape[0] != 1 or len(y.shape) != 4:
            p.append(f"{where}: needs a [1, H, W, C] input, got {list(x.shape)}")
            return p
        if not w.is_constant or w.dtype != "int8" or len(w.shape) != 4:
            p.append(f"{where}: weights must be a constant int8 4-D tensor")
            return p
        if w.zero_point.size and np.any(w.zero_point != 0):
            p.append(f"{where}: weights must be symmetric (zero point 0)")
        if op.options.get("dilation_h_factor", 1) != 1 or op.options.get("dilation_w_factor", 1) != 1:
            p.append(f"{where}: dilation is not supported")
        if len(op.inputs) > 2 and op.inputs[2] >= 0:
            b = t[op.inputs[2]]
            if not b.is_constant or b.dtype != "int32":
                p.append(f"{where}: bias must be a constant int32 tensor")
        if op.opcode == "DEPTHWISE_CONV_2D" and (w.shape[3] != x.shape[3] or y.shape[3] != x.shape[3]):
            p.append(f"{where}: only depth multiplier 1 is supported")
        if op.opcode == "CONV_2D" and w.shape[3] != x.shape[3]:
            p.append(f"{where}: grouped convolution is not supported")
        for name, v in (("in_h", x.shape[1]), ("in_w", x.shape[2]), ("in_c", x.shape[3]), ("out_c", y.shape[3])):
            _fits(p, where, name, v, _U16)
        for name, v in (
            ("kernel", max(w.shape[1], w.shape[2])),
            ("stride", max(op.options.get("stride_h", 1), op.options.get("stride_w", 1))),
        ):
            _fits(p, where, name, v, _U8)
    elif op.opcode == "FULLY_CONNECTED":
        x, w, y = t[op.inputs[0]], t[op.inputs[1]], t[op.outputs[0]]
        if not w.is_constant or w.dtype != "int8" or len(w.shape) != 2:
            p.append(f"{where}: weights must be a constant int8 [out, in] tensor")
            return p
        if w.zero_point.size and np.any(w.zero_point != 0):
            p.append(f"{where}: weights must be symmetric (zero point 0)")
        if x.size % w.shape[1] != 0:
            p.append(f"{where}: input of {x.size} values does not match {w.shape[1]} weight columns")
        if w.per_channel and w.scale.size != w.shape[0]:
            p.append(f"{where}: {w.scale.size} weight scales for {w.shape[0]} outputs")
        if len(op.inputs) > 2 and op.inputs[2] >= 0:
            b = t[op.inputs[2]]
            if not b.is_constant or b.dtype != "int32":
                p.append(f"{where}: bias must be a constant int32 tensor")
    elif op.opcode == "ADD":
        a, b = t[op.inputs[0]], t[op.inputs[1]]
        if a.is_constant or b.is_constant:
            p.append(f"{where}: ADD of a constant is not supported")
        elif a.shape != b.shape or a.shape != t[op.outputs[0]].shape:
            p.append(f"{where}: broadcasting ADD ({list(a.shape)} + {list(b.shape)}) is not supported")
    elif op.opcode == "MEAN":
        x, ax = t[op.inputs[0]], t[op.inputs[1]]
        if len(x.shape) != 4 or x.shape[0] != 1:
            p.append(f"{where}: needs a [1, H, W, C] input")
        elif not ax.is_constant:
            p.append(f"{where}: the axis must be constant")
        else:
            axes = sorted({int(a) % 4 for a in np.ravel(ax.data)})
            if axes != [1, 2]:
                p.append(f"{where}: only the mean over H and W (axes 1, 2) is supported, got {axes}")
        _fits(p, where, "h*w", x.shape[1] * x.shape[2] if len(x.shape) == 4 else 0, (1, 65535 * 65535))
    elif op.opcode == "AVERAGE_POOL_2D":
        x = t[op.inputs[0]]
        if len(x.shape) != 4 or x.shape[0] != 1:
            p.append(f"{where}: needs a [1, H, W, C] input")
    elif op.opcode in ("MAX_POOL_2D", "PAD", "PADV2", "CONCATENATION"):
        p.extend(_same_quantization_problems(graph, op, where))
        if op.opcode == "MAX_POOL_2D":
            x = t[op.inputs[0]]
            if len(x.shape) != 4 or x.shape[0] != 1:
                p.append(f"{where}: needs a [1, H, W, C] input")
            for name, v in (("kernel", max(op.options.get("filter_height", 1), op.options.get("filter_width", 1))),
                            ("stride", max(op.options.get("stride_h", 1), op.options.get("stride_w", 1)))):
                _fits(p, where, name, v, _U8)
        elif op.opcode in ("PAD", "PADV2"):
            x, pads = t[op.inputs[0]], t[op.inputs[1]]
            if not pads.is_constant or len(x.shape) > 4 or np.asarray(pads.data).shape != (len(x.shape), 2):
                p.append(f"{where}: needs constant paddings of a tensor of at most 4 dimensions")
            elif np.any(np.asarray(pads.data) < 0):
                p.append(f"{where}: negative padding is not supported")
            if op.opcode == "PADV2" and (len(op.inputs) < 3 or not t[op.inputs[2]].is_constant):
                p.append(f"{where}: the pad value must be a constant")
        else:
            if any(t[i].is_constant for i in op.inputs if i >= 0):
                p.append(f"{where}: CONCATENATION of a constant is not supported")
    elif op.opcode == "SOFTMAX":
        x, y = t[op.inputs[0]], t[op.outputs[0]]
        depth = int(x.shape[-1]) if len(x.shape) else 0
        if x.shape != y.shape or depth < 1:
            p.append(f"{where}: input {list(x.shape)} and output {list(y.shape)} must have the same shape")
        else:
            _fits(p, where, "depth", depth, (1, SOFTMAX_MAX_DEPTH))
        if np.float32(y.qscale) != SOFTMAX_OUTPUT_SCALE or y.qzero != SOFTMAX_OUTPUT_ZERO_POINT:
            p.append(f"{where}: output scale {float(y.qscale):g} zero point {y.qzero}, "
                     "int8 softmax needs scale 1/256 and zero point -128")
        else:
            try:
                softmax_params(x.qscale, float(op.options.get("beta", 1.0)))
            except UserError as e:
                p.append(f"{where}: {e}")
    elif op.opcode == "RESHAPE":
        x, y = t[op.inputs[0]], t[op.outputs[0]]
        if x.size != y.size:
            p.append(f"{where}: reshape changes the element count")
        elif x.qscale != y.qscale or x.qzero != y.qzero:
            p.append(f"{where}: reshape changes the quantization")
    return p


def _same_quantization_problems(graph: Graph, op: Op, where: str) -> list[str]:
    """Copy-like ops (pooling maximum, pad, concatenation) move int8 values unchanged: every data
    input must share the output's scale and zero point (TFLM requires it too)."""
    t = graph.tensors
    y = t[op.outputs[0]]
    data = [op.inputs[0]] if op.opcode != "CONCATENATION" else [i for i in op.inputs if i >= 0]
    bad = [t[i].name for i in data if t[i].scale.size == 1 and (t[i].qscale != y.qscale or t[i].qzero != y.qzero)]
    return [f"{where}: input {n!r} is quantized differently from the output (requantizing is not supported)"
            for n in bad]


def check_supported(graph: Graph, origin: str = "model") -> None:
    """Raise :class:`UserError` (one line) if any op cannot run on the native kernels."""
    problems: list[str] = []
    for t in graph.inputs:
        if graph.tensors[t].dtype != "int8":
            problems.append(f"input {graph.tensors[t].name!r} is {graph.tensors[t].dtype}, expected int8")
    for op in graph.ops:
        problems.extend(_op_problems(graph, op))
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise UserError(f"{origin}: " + "; ".join(problems[:3]) + more)


def _bias(graph: Graph, op: Op, channels: int) -> dict[str, np.ndarray]:
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        b = graph.tensors[op.inputs[2]].data
        assert b is not None
        b = np.asarray(b, dtype=np.int32).ravel()
        if b.size != channels:
            raise UserError(f"op {op.index} {op.opcode}: bias has {b.size} values for {channels} channels")
        return {"bias": b}
    return {}


def _weight_arrays(graph: Graph, op: Op, w: Tensor, channels: int, mult: np.ndarray,
                   shift: np.ndarray) -> dict[str, np.ndarray]:
    """The constant arrays of a conv-like or fully connected call: int8 weights, int32 bias (if
    the op has one), int32 multipliers and int8 shifts."""
    assert w.data is not None
    return {
        "weights": np.ascontiguousarray(w.data, dtype=np.int8).ravel(),
        **_bias(graph, op, channels),
        "out_mult": mult.astype(np.int32),
        "out_shift": shift.astype(np.int8),
    }


def lower_op(graph: Graph, op: Op) -> KernelCall:
    """The native kernel call for one op (raises :class:`UserError` if unsupported)."""
    problems = _op_problems(graph, op)
    if problems:
        raise UserError("; ".join(problems[:3]))
    t = graph.tensors
    opts = op.options
    act = opts.get("activation", "NONE")

    if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        x, w, y = t[op.inputs[0]], t[op.inputs[1]], t[op.outputs[0]]
        _, in_h, in_w, in_c = x.shape
        _, out_h, out_w, out_c = y.shape
        k_h, k_w = w.shape[1], w.shape[2]
        sh, sw = int(opts.get("stride_h", 1)), int(opts.get("stride_w", 1))
        oh, pt, _ = compute_padding(in_h, k_h, sh, opts.get("padding", "VALID"))
        ow, pl, _ = compute_padding(in_w, k_w, sw, opts.get("padding", "VALID"))
        if (oh, ow) != (out_h, out_w):
            raise UserError(
                f"op {op.index} {op.opcode}: output {out_h}x{out_w} does not match the computed {oh}x{ow}"
            )
        mult, shift = conv_multipliers(x.qscale, w.scale, y.qscale, out_c)
        lo, hi = activation_range(act, y.qscale, y.qzero)
        params = {
            "in_h": in_h, "in_w": in_w, "in_c": in_c,
            "out_h": out_h, "out_w": out_w, "out_c": out_c,
            "k_h": k_h, "k_w": k_w, "stride_h": sh, "stride_w": sw,
            "pad_top": pt, "pad_left": pl,
            "in_offset": -x.qzero, "out_offset": y.qzero, "act_min": lo, "act_max": hi,
        }  # fmt: skip
        arrays = _weight_arrays(graph, op, w, out_c, mult, shift)
        if op.opcode == "DEPTHWISE_CONV_2D":
            macs = out_h * out_w * out_c * k_h * k_w
            return KernelCall(
                op.index, op.opcode, "ofa_depthwise_s8", "ofa_conv_params_t",
                (op.inputs[0],), (op.outputs[0],), params, arrays, macs,
                inplace_ok=depthwise_fits_in_place(in_h, in_w, out_h, out_w),
                scratch_bytes=inplace_depthwise_scratch_bytes(out_h, out_w),
            )  # fmt: skip
        pointwise = k_h == 1 and k_w == 1 and sh == 1 and sw == 1 and pt == 0 and pl == 0
        macs = out_h * out_w * out_c * k_h * k_w * in_c
        fn = "ofa_pointwise_s8" if pointwise else "ofa_conv_s8"
        return KernelCall(
            op.index, op.opcode, fn, "ofa_conv_params_t", (op.inputs[0],), (op.outputs[0],), params, arrays, macs
        )

    if op.opcode == "FULLY_CONNECTED":
        x, w, y = t[op.inputs[0]], t[op.inputs[1]], t[op.outputs[0]]
        n_out, n_in = w.shape
        if w.per_channel:
            mult, shift = conv_multipliers(x.qscale, w.scale, y.qscale, n_out)
        else:
            m, s = fc_multiplier(x.qscale, w.qscale, y.qscale)
            mult, shift = np.array([m], np.int32), np.array([s], np.int32)
        lo, hi = activation_range(act, y.qscale, y.qzero)
        params = {
            "batches": x.size // n_in, "in_features": n_in, "out_features": n_out,
            "in_offset": -x.qzero, "out_offset": y.qzero, "act_min": lo, "act_max": hi,
            "per_channel": int(w.per_channel),
        }  # fmt: skip
        arrays = _weight_arrays(graph, op, w, n_out, mult, shift)
        return KernelCall(
            op.index, op.opcode, "ofa_fully_connected_s8", "ofa_fc_params_t",
            (op.inputs[0],), (op.outputs[0],), params, arrays, params["batches"] * n_in * n_out,
        )  # fmt: skip

    if op.opcode == "ADD":
        a, b, y = t[op.inputs[0]], t[op.inputs[1]], t[op.outputs[0]]
        lo, hi = activation_range(act, y.qscale, y.qzero)
        params = {
            "size": y.size, "in1_offset": -a.qzero, "in2_offset": -b.qzero, "out_offset": y.qzero,
            **add_multipliers(a.qscale, b.qscale, y.qscale), "act_min": lo, "act_max": hi,
        }  # fmt: skip
        return KernelCall(
            op.index, op.opcode, "ofa_add_s8", "ofa_add_params_t",
            (op.inputs[0], op.inputs[1]), (op.outputs[0],), params, {}, 0,
        )  # fmt: skip

    if op.opcode == "MEAN":
        x, y = t[op.inputs[0]], t[op.outputs[0]]
        _, h, w_, c = x.shape
        m, s = mean_multiplier(x.qscale, y.qscale, h * w_)
        params = {
            "h": h, "w": w_, "c": c, "in_zero_point": x.qzero, "out_zero_point": y.qzero,
            "mult": m, "shift": s,
        }  # fmt: skip
        return KernelCall(
            op.index, op.opcode, "ofa_mean_hw_s8", "ofa_mean_params_t",
            (op.inputs[0],), (op.outputs[0],), params, {}, h * w_ * c,
        )  # fmt: skip

    if op.opcode in _POOL_KERNELS:  # AVERAGE_POOL_2D, MAX_POOL_2D: the same window parameters
        x, y = t[op.inputs[0]], t[op.outputs[0]]
        _, in_h, in_w, c = x.shape
        _, out_h, out_w, _ = y.shape
        k_h, k_w = int(opts["filter_height"]), int(opts["filter_width"])
        sh, sw = int(opts.get("stride_h", 1)), int(opts.get("stride_w", 1))
        _, pt, _ = compute_padding(in_h, k_h, sh, opts.get("padding", "VALID"))
        _, pl, _ = compute_padding(in_w, k_w, sw, opts.get("padding", "VALID"))
        lo, hi = activation_range(act, y.qscale, y.qzero)
        params = {
            "in_h": in_h, "in_w": in_w, "c": c, "out_h": out_h, "out_w": out_w,
            "k_h": k_h, "k_w": k_w, "stride_h": sh, "stride_w": sw, "pad_top": pt, "pad_left": pl,
            "act_min": lo, "act_max": hi,
        }  # fmt: skip
        fn, params_type = _POOL_KERNELS[op.opcode]
        return KernelCall(
            op.index, op.opcode, fn, params_type,
            (op.inputs[0],), (op.outputs[0],), params, {}, out_h * out_w * c * k_h * k_w,
        )  # fmt: skip

    if op.opcode in ("PAD", "PADV2"):
        x, y = t[op.inputs[0]], t[op.outputs[0]]
        pads = np.asarray(t[op.inputs[1]].data, dtype=np.int64).reshape(-1, 2)
        lead = 4 - len(x.shape)
        in_dims = [1] * lead + [int(d) for d in x.shape]
        before = [0] * lead + [int(b) for b in pads[:, 0]]
        out_dims = [i + int(b) + int(a) for i, b, a in zip(in_dims, before, [0] * lead + list(pads[:, 1]))]
        if out_dims[4 - len(y.shape):] != [int(d) for d in y.shape]:
            raise UserError(f"op {op.index} {op.opcode}: output {list(y.shape)} does not match the padded "
                            f"{out_dims}")
        value = y.qzero
        if op.opcode == "PADV2":
            value = int(np.asarray(t[op.inputs[2]].data).ravel()[0])
        params = {**{f"in_dims[{k}]": v for k, v in enumerate(in_dims)},
                  **{f"out_dims[{k}]": v for k, v in enumerate(out_dims)},
                  **{f"before[{k}]": v for k, v in enumerate(before)}, "pad_value": value}
        return KernelCall(
            op.index, op.opcode, "ofa_pad_s8", "ofa_pad_params_t",
            (op.inputs[0],), (op.outputs[0],), params, {}, int(y.size),
        )  # fmt: skip

    if op.opcode == "CONCATENATION":
        y = t[op.outputs[0]]
        ins = tuple(i for i in op.inputs if i >= 0)
        axis = int(opts.get("axis", 0)) % len(y.shape)
        outer = int(np.prod(y.shape[:axis], dtype=np.int64))
        rows = [int(np.prod(t[i].shape[axis:], dtype=np.int64)) for i in ins]
        params = {"n_inputs": len(ins), "outer": outer, "out_row_bytes": sum(rows)}
        if sum(rows) * outer != y.size:
            raise UserError(f"op {op.index} {op.opcode}: inputs do not add up to the output {list(y.shape)}")
        return KernelCall(
            op.index, op.opcode, "ofa_concat_s8", "ofa_concat_params_t", ins, (op.outputs[0],), params,
            {"in_bytes": np.array(rows, np.int32)}, int(y.size), arena_inputs=True,
        )  # fmt: skip

    if op.opcode == "SOFTMAX":
        x, y = t[op.inputs[0]], t[op.outputs[0]]
        depth = int(x.shape[-1])
        mult, shift, diff_min = softmax_params(x.qscale, float(opts.get("beta", 1.0)))
        params = {
            "outer": x.size // depth, "depth": depth, "input_multiplier": mult, "input_left_shift": shift,
            "diff_min": diff_min,
        }  # fmt: skip
        return KernelCall(
            op.index, op.opcode, "ofa_softmax_s8", "ofa_softmax_params_t",
            (op.inputs[0],), (op.outputs[0],), params, {}, x.size,
        )  # fmt: skip

    if op.opcode == "RESHAPE":
        return KernelCall(
            op.index, op.opcode, None, None, (op.inputs[0],), (op.outputs[0],),
            {"size": t[op.outputs[0]].size}, {},
        )  # fmt: skip

    raise UserError(f"op {op.index} {op.opcode}: not supported by the native runtime")


def lower_graph(graph: Graph, origin: str = "model") -> list[KernelCall]:
    """Check the whole graph, then lower every op in execution order."""
    check_supported(graph, origin)
    return [lower_op(graph, op) for op in graph.ops]

