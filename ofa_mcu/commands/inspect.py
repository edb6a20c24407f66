"""`ofa-mcu inspect`: what is inside a `.tflite` and how much TFLM arena it needs."""

from __future__ import annotations

import click

from ofa_mcu.commands.options import echo_json, json_option
from ofa_mcu.table import fmt_int, render


def _shape(s: list[int] | None) -> str:
    return "x".join(map(str, s)) if s else "-"


def _quant(t: dict) -> str:
    if t["per_channel"]:
        lo, hi = t["scale_range"]
        return f"{t['per_channel']} ch, scale {lo:.3g}..{hi:.3g}"
    if t["scale"] is None:
        return "-"
    return f"scale {t['scale']:.6g} zp {t['zero_point']}"


def format_inspect(r: dict) -> str:
    out = []
    rows = [(x["index"], x["op"], " + ".join(_shape(s) for s in x["inputs"]), _shape(x["output"]),
             _shape(x["kernel"]) if x["kernel"] else "", x["stride"] or "", x["activation"] or "",
             fmt_int(x["weight_bytes"]), fmt_int(x["bias_bytes"])) for x in r["layers"]]
    out.append(render(["#", "op", "input", "output", "kernel", "stride", "act", "weights B", "bias B"], rows,
                      title=f"{r['model']}: {r['model_bytes']:,} B, {len(r['ops'])} ops"))
    out.append("")
    trows = [(t["index"], t["name"][:48], _shape(t["shape"]), t["dtype"], "const" if t["constant"] else "act",
              fmt_int(t["bytes"]), _quant(t)) for t in r["tensors"]]
    out.append(render(["#", "tensor", "shape", "dtype", "kind", "bytes", "quantization"], trows, title="tensors"))
    out.append("")
    out.append(f"weights {r['weight_bytes']:,} B int8 + biases {r['bias_bytes']:,} B int32 "
               f"(constants {r['constant_bytes']:,} B of {r['model_bytes']:,} B)")
    inp, outp = r["input"], r["output"]
    out.append(f"input {_shape(inp['shape'])} {inp['dtype']} {_quant(inp)}; output {_shape(outp['shape'])} "
               f"{outp['dtype']} {_quant(outp)}")
    if r["subnet"] is not None:
        check = "IR matches op for op" if r["ir_check"] == "ok" else "IR MISMATCH: " + "; ".join(r["ir_check"][:3])
        out.append(f"subnet of {r['space']} (resolution {r['subnet']['resolution']}): {check}")
    measured = f"{r['measured_arena_bytes']:,} B (host tflite-micro)" if r["measured_arena_bytes"] is not None else "not measured"
    predicted = (f"{r['predicted_arena_bytes']:,} B" if r["predicted_arena_bytes"] is not None
                 else f"unavailable ({r.get('prediction_unavailable')})")
    out.append(f"TFLM arena: measured {measured}, predicted {predicted}"
               + (f" ({r['arena_error_pct']:+.2f}%)" if "arena_error_pct" in r else ""))
    res = r["resolver"]
    out.append(f"op resolver: tflite::MicroMutableOpResolver<{res['count']}> with {', '.join(c + '()' for c in res['calls'])}")
    return "\n".join(out)


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--no-measure", is_flag=True, help="Skip measuring the real TFLM arena.")
@json_option
def inspect(model: str, no_measure: bool, as_json: bool) -> None:
    """Show the ops, tensors (shape, dtype, scale, zero point), weight bytes, TFLM op resolver,
    and the measured and predicted TFLM arena of MODEL (a .tflite file)."""
    from ofa_mcu.export.pipeline import inspect_model

    report = inspect_model(model, measure=not no_measure)
    if as_json:
        echo_json(report)
    else:
        click.echo(format_inspect(report))
