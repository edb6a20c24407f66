"""`ofa-mcu search`: the most accurate subnet per board under SRAM, flash and latency limits."""

from __future__ import annotations

from pathlib import Path

import click

from ofa_mcu.commands.options import echo_json, json_option, runtime_option, seed_option
from ofa_mcu.search.predictor import DEFAULT_PREDICTOR, PREDICTORS
from ofa_mcu.table import fmt_bytes, fmt_int, render


@click.command()
@click.option("--checkpoint", type=click.Path(), required=True, help="Supernet checkpoint (file or training folder).")
@click.option("--target", "targets", multiple=True, required=True,
              help="Board name or YAML path; repeat for a product family (one subnet per board).")
@runtime_option
@click.option("--sram-kb", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Usable SRAM limit in KB (overrides the boards').")
@click.option("--flash-kb", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Flash limit in KB for model + runtime code (overrides the boards').")
@click.option("--latency-ms", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Latency limit per inference in ms (predicted by the latency model).")
@click.option("--energy-uj", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Limit on the estimated energy per inference in uJ (predicted latency x the board YAML's "
                   "datasheet run-mode current x supply voltage; boards without those figures are refused).")
@click.option("--latency-lut", "latency_luts", multiple=True, type=click.Path(dir_okay=False),
              help="Measured latency LUT (from `ofa-mcu profile --lut`); applies to the board it names.")
@click.option("--modes", type=click.IntRange(min=1, max=8), default=1, show_default=True,
              help="Also choose K operating modes per board: subnets on the accuracy/latency Pareto front that fit "
                   "the board together (flash for all, one shared arena), spread over the latency range.")
@click.option("--mode-latency-ms", default=None, metavar="T1,T2,...",
              help="Latency tiers of the modes in ms (one per mode; the most accurate subnet at or under each).")
@seed_option
@click.option("--predictor-samples", type=click.IntRange(min=10), default=240, show_default=True,
              help="Subnets measured (BN-recalibrated, validation split) to train the accuracy predictor.")
@click.option("--predictor", type=click.Choice(sorted(PREDICTORS)), default=DEFAULT_PREDICTOR, show_default=True,
              help="Accuracy model: the OFA MLP, or ridge regression (penalty chosen by leave-one-out error).")
@click.option("--val-images", type=click.IntRange(min=10), default=None,
              help="Measure subnets on a stratified subset of this many validation images (default: all).")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Output folder: search.json and pareto-<board>.png.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@json_option
def search(checkpoint: str, targets: tuple[str, ...], runtime: str, sram_kb: float | None, flash_kb: float | None,
           latency_ms: float | None, energy_uj: float | None, latency_luts: tuple[str, ...], modes: int,
           mode_latency_ms: str | None, seed: int, predictor_samples: int, predictor: str,
           val_images: int | None, out: str, quiet: bool, as_json: bool) -> None:
    """Search the most accurate subnet that fits each --target's SRAM, flash (and latency).

    Accuracy comes from a predictor trained on measured subnets (cached beside the checkpoint)
    and the final candidates are measured for real, all on the validation split; the chosen
    subnet's accuracy is reported on the held-out test split. SRAM from the runtime's memory planner,
    flash from the model size plus the runtime's code; latency from the board's cycle model or
    a measured LUT; energy per inference (an estimate) from that latency and the board YAML's
    datasheet current and voltage. Exits 2 with the smallest subnet's needs when nothing fits.
    """
    from ofa_mcu.atomic import check_writable
    from ofa_mcu.search import SearchOptions, run_search

    tiers = _tiers(mode_latency_ms, modes)
    check_writable(out, folder=True)
    if energy_uj is not None:  # a board without datasheet power figures: one line, before any work
        from ofa_mcu.boards import load_board
        from ofa_mcu.energy import require_power

        for t in targets:
            require_power(load_board(t))

    opts = SearchOptions(checkpoint=Path(checkpoint), targets=list(targets), out=Path(out), runtime=runtime,
                         sram_kb=sram_kb, flash_kb=flash_kb, latency_ms=latency_ms, energy_uj=energy_uj,
                         latency_luts=[Path(p) for p in latency_luts], seed=seed,
                         predictor_samples=predictor_samples, predictor=predictor, val_images=val_images, quiet=quiet or as_json,
                         modes=modes, mode_latency_ms=tiers)
    def log(message: str) -> None:  # with --json only warnings, on stderr
        if not as_json or message.startswith("warning:"):
            click.echo(message, err=True)

    result = run_search(opts, log=log)
    if as_json:
        echo_json(result)
        return
    click.echo(format_search(result))
    if any(b.get("modes") or b.get("modes_skipped") for b in result["boards"].values()):
        click.echo(format_modes(result))
    click.echo(f"wrote {Path(out) / 'search.json'}")


def format_search(result: dict) -> str:
    rows = []
    for name, b in result["boards"].items():
        lim = b["limits"]
        rows.append((name, b["subnet_hash"], b["subnet"]["resolution"], f"{100 * b['test_acc']:.1f}%",
                     f"{100 * b['measured_acc']:.1f}%", f"{100 * b['predicted_acc']:.1f}%", fmt_int(b["macs"]),
                     f"{fmt_bytes(b['peak_sram_bytes'])} / {fmt_bytes(lim['sram_bytes'])}", f"{b['sram_used_pct']:.0f}%",
                     f"{fmt_bytes(b['flash_bytes'])} / {fmt_bytes(lim['flash_bytes'])}", f"{b['latency_ms']:.2f}",
                     "-" if b.get("energy_uj") is None else f"{b['energy_uj']:.1f}"))
    return render(["board", "subnet", "res", "test acc", "val acc", "val predicted", "MACs", "SRAM used / usable", "SRAM %",
                   "flash used / usable", "latency ms", "energy uJ (estimate)"], rows,
                  title=f"search: {result['space']} on {result['data']}, runtime {result['runtime']}, "
                        f"predictor Kendall tau {_tau(result['predictor'].get('kendall_tau'))}")


def _tiers(text: str | None, modes: int) -> list[float] | None:
    """``--mode-latency-ms 50,100,200`` as numbers (finite, positive, one per mode)."""
    if text is None:
        return None
    import math

    try:
        tiers = [float(t) for t in text.split(",")]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated milliseconds like 50,100,200, got {text!r}",
                                 param_hint="--mode-latency-ms") from None
    if not tiers or any(not math.isfinite(t) or t <= 0 for t in tiers):
        raise click.BadParameter(f"expected positive finite milliseconds, got {text!r}", param_hint="--mode-latency-ms")
    if modes > 1 and len(tiers) != modes:
        raise click.BadParameter(f"{len(tiers)} tiers given, --modes {modes}: give one tier per mode",
                                 param_hint="--mode-latency-ms")
    return tiers


def format_modes(result: dict) -> str:
    """One table per board that has operating modes."""
    out = []
    for name, b in result["boards"].items():
        m = b.get("modes")
        if b.get("modes_skipped"):
            out.append(f"{name}: no modes ({b['modes_skipped']})")
        if not m:
            continue
        rows = [(e["name"], e["subnet_hash"], e["subnet"]["resolution"], f"{100 * e['test_acc']:.1f}%",
                 f"{100 * e['measured_acc']:.1f}%", f"{e['latency_ms']:.2f}",
                 "-" if e.get("energy_uj") is None else f"{e['energy_uj']:.1f}", fmt_bytes(e["peak_sram_bytes"]),
                 fmt_bytes(e["model_flash_bytes"])) for e in m["entries"]]
        out.append(render(["mode", "subnet", "res", "test acc", "val acc", "latency ms", "energy uJ (estimate)", "SRAM",
                           "model flash"], rows,
                          title=f"{name}: {m['count']} modes, shared arena {fmt_bytes(m['shared_arena_bytes'])}, flash "
                                f"{fmt_bytes(m['flash_bytes'])} of {fmt_bytes(m['flash_limit_bytes'])} (all models + code)"))
    return "\n".join(out)


def _tau(tau: float | None) -> str:
    return "undefined" if tau is None else f"{tau:.2f}"
