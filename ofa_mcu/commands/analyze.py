"""`ofa-mcu analyze`: per-layer SRAM / flash / MACs of one subnet against a board."""

from __future__ import annotations

import click

from ofa_mcu.analysis import Analysis, analyze_graph, input_copy_bytes
from ofa_mcu.analysis import analyze as run_analysis
from ofa_mcu.boards import load_board
from ofa_mcu.commands.options import (
    echo_json,
    json_option,
    resolve_space,
    resolve_subnet,
    runtime_option,
    space_options,
    subnet_options,
)
from ofa_mcu.table import fmt_bytes, fmt_int, render


def latency_line(a: Analysis) -> str | None:
    """The latency estimate from the board's coefficients for the runtime (None without a board)."""
    if a.board is None:
        return None
    from ofa_mcu.search.latency import board_latency

    lat = board_latency(a.board, a.runtime)
    return (f"latency estimate: {lat.ms(a.graph):,.1f} ms at {a.board.clock_hz / 1e6:g} MHz "
            f"({lat.source} coefficients, not measured)")


def shape(s: list[int]) -> str:
    return "x".join(map(str, s))


def format_analysis(a: Analysis) -> str:
    """The per-layer table, totals and the budget verdict as text."""
    rows = []
    for r in a.layers():
        rows.append((
            r["index"], r["name"], (r["kind"] if r["kind"] != "other" else r["tflite_op"].lower()) + (f" {r['kernel']}x{r['kernel']}/{r['stride']}" if r["kernel"] > 1 else ""),
            shape(r["in_shape"]), shape(r["out_shape"]), fmt_int(r["macs"]), fmt_int(r["weight_bytes"]),
            fmt_bytes(r["sram_bytes"]), "<- peak" if r["peak"] else "",
        ))
    cfg = a.graph.config
    what = (f"{a.graph.space.name} subnet {cfg.stable_hash()} (resolution {cfg.resolution}, depths "
            f"{','.join(map(str, cfg.depths))})") if cfg is not None else f"model {a.graph.ops[0].in_shape} input"
    title = f"{what}, runtime {a.runtime}" + (f", board {a.board.name}" if a.board else "")
    out = [render(["#", "layer", "op", "input", "output", "MACs", "weights B", "SRAM", ""], rows, title=title)]
    p = a.plan
    out.append(f"total: {fmt_int(a.graph.macs)} MACs, {fmt_int(a.graph.params)} params, "
               f"{fmt_int(a.graph.weight_bytes)} B int8 weights")
    out.append(f"peak SRAM {fmt_bytes(a.peak_sram_bytes)} (activations {fmt_bytes(p.activation_bytes)} + runtime "
               f"{fmt_bytes(p.persistent_bytes)} + input copy {fmt_bytes(input_copy_bytes(a.graph))}) at {a.graph.ops[p.peak_op].name}; flash {fmt_bytes(a.flash_bytes)} "
               f"(model {fmt_bytes(a.model_flash_bytes)} + code {fmt_bytes(a.code_bytes)})")
    if a.sram and a.flash:
        def verdict(name: str, b) -> str:
            sign = "fits" if b.fits else "DOES NOT FIT"
            return (f"{name}: {fmt_bytes(b.used)} of {fmt_bytes(b.limit)} usable: {sign} "
                    f"(margin {b.margin:+,} B, {b.margin_pct:+.1f}%)")
        out.append(verdict("SRAM", a.sram))
        out.append(verdict("flash", a.flash))
        out.append(f"=> {'fits' if a.fits else 'does not fit'} {a.board.name if a.board else 'the budget'}")
    lat = latency_line(a)
    if lat:
        out.append(lat)
    return "\n".join(out)


@click.command()
@space_options
@subnet_options
@click.option("--target", "target", default=None,
              help="Board name (see `ofa-mcu boards`) or board YAML path; without it no budget check.")
@click.option("--tflite", "--model", "model", type=click.Path(dir_okay=False), default=None,
              help="Analyse any int8 .tflite instead of a subnet (read from the graph alone; a float QUANTIZE at the "
                   "input and DEQUANTIZE at the output are left off, as compile --tflite deploys it).")
@runtime_option
@click.option("--sram-kb", type=click.FloatRange(min=0, min_open=True), default=None, help="Override usable SRAM (KB).")
@click.option("--flash-kb", type=click.FloatRange(min=0, min_open=True), default=None, help="Override usable flash (KB).")
@json_option
def analyze(space_name: str | None, checkpoint: str | None, subnet_file: str | None, preset: str | None,
            target: str | None, model: str | None, runtime: str, sram_kb: float | None, flash_kb: float | None,
            as_json: bool) -> None:
    """Per-layer memory analysis of one subnet (or of any int8 .tflite with --tflite): shapes, MACs,
    weights, SRAM in use, peak layer, flash, whether it fits the board's usable SRAM and flash, and
    a latency estimate from the board's coefficients."""
    board = load_board(target) if target else None
    limits = {"sram_limit": int(sram_kb * 1024) if sram_kb else None,
              "flash_limit": int(flash_kb * 1024) if flash_kb else None}
    if model is not None:
        if space_name or checkpoint or subnet_file or preset:
            raise click.UsageError("give either --tflite FILE or a subnet (--space/--checkpoint with --subnet/--preset)")
        from ofa_mcu.usermodel import load_user_model

        a = analyze_graph(load_user_model(model, runtime).ir, board, runtime, **limits)
    else:
        sp = resolve_space(space_name, checkpoint)
        cfg = resolve_subnet(sp, subnet_file, preset)
        a = run_analysis(sp, cfg, board, runtime, **limits)
    if as_json:
        d = a.to_dict()
        if a.board is not None:
            from ofa_mcu.search.latency import board_latency

            d["latency_ms"] = round(board_latency(a.board, a.runtime).ms(a.graph), 3)
        echo_json(d)
    else:
        click.echo(format_analysis(a))
