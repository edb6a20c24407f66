"""`ofa-mcu export`: one subnet of a trained supernet -> INT8 `.tflite` verified on TFLM, or ONNX
(float, or INT8 QDQ) verified on onnxruntime."""

from __future__ import annotations

from pathlib import Path

import click

from ofa_mcu.artifacts import subnet_from_search
from ofa_mcu.commands.options import echo_json, json_option, seed_option, subnet_options
from ofa_mcu.config import SubnetConfig
from ofa_mcu.errors import UserError


def sidecar_path(out: Path) -> Path:
    return out.with_suffix(".json")


def _reference_line(ref: dict) -> str:
    if ref["max_int8_diff"] == 0:
        return f"TFLM and TFLite's reference kernels agree bit for bit on {ref['samples']} inputs"
    ops = ", ".join(f"{op} on {n}" for op, n in ref["first_differing_op"].items())
    note = " (TFLite's reference FC rounds once, TFLM twice)" if set(ref["first_differing_op"]) == {"FULLY_CONNECTED"} else ""
    return (f"TFLM vs TFLite's reference kernels: output differs by up to {ref['max_int8_diff']} on "
            f"{ref['differing_samples']} of {ref['samples']} inputs, first at {ops}{note}")


def format_report(r: dict, out: Path) -> str:
    acc, arena, fl = r["accuracy"], r["arena"], r["flash"]
    lines = [
        f"wrote {out} ({r['model_bytes']:,} B, sha256 {r['sha256'][:16]}) and {sidecar_path(out).name}",
        f"subnet {r['subnet_hash']} of {r['space']}: resolution {r['subnet']['resolution']}, "
        f"{len(r['ops'])} ops, {r['macs']:,} MACs, {r['weight_bytes']:,} B int8 weights",
        f"accuracy on {acc['test_samples']} held-out test images: float {100 * acc['float']:.2f}%, "
        f"int8 on TFLM {100 * acc['int8']:.2f}% (drop {acc['drop_points']:+.2f} points)",
        f"checks: IR matches the .tflite op for op; torch vs TF float max |diff| {r['float_check']['max_abs_diff']:.2e}",
        _reference_line(r["reference_check"]),
        f"input int8 scale {r['input']['scale']:.6g} zero point {r['input']['zero_point']}; "
        f"output int8 scale {r['output']['scale']:.6g} zero point {r['output']['zero_point']}",
    ]
    if arena["measured_bytes"] is not None:
        lines.append(f"TFLM arena: predicted {arena['predicted_bytes']:,} B, measured {arena['measured_bytes']:,} B "
                     f"(host build; {arena['error_pct']:+.2f}%); with CMSIS-NN scratch {arena['predicted_cmsis_nn_bytes']:,} B")
    else:
        lines.append(f"TFLM arena: predicted {arena['predicted_bytes']:,} B (not measured)")
    lines.append(f"flash (model): predicted {fl['predicted_model_bytes']:,} B, actual {fl['model_bytes']:,} B")
    lines.append(f"op resolver ({r['resolver']['count']} ops): {', '.join(r['resolver']['calls'])}")
    lines.append(f"export took {r['export_seconds']:.1f} s (TensorFlow conversion {r['convert_seconds']:.1f} s)")
    return "\n".join(lines)


def format_onnx_report(r: dict, out: Path) -> str:
    acc, fc = r["accuracy"], r["float_check"]
    lines = [
        f"wrote {out} ({r['model_bytes']:,} B, sha256 {r['sha256'][:16]}, ONNX opset {r['opset']}, "
        f"{r['onnx_format']}) and {sidecar_path(out).name}",
        f"subnet {r['subnet_hash']} of {r['space']}: input {r['input']['name']} float32 NCHW "
        f"{'x'.join(str(d) for d in r['input']['shape'])}, output {r['output']['name']}",
        f"float check on onnxruntime: max |onnx - torch| {fc['max_abs_diff']:.2e} on {fc['samples']} test images "
        f"({'within' if fc['ok'] else 'ABOVE'} the {fc['tolerance']:.0e} goal); accuracy on {acc['test_samples']} "
        f"held-out test images: torch {100 * acc['torch_float']:.2f}%, onnx float {100 * acc['onnx_float']:.2f}%",
    ]
    if "int8_check" in r:
        ic = r["int8_check"]
        lines.append(f"INT8 (QDQ, {r['calibration_samples']} calibration images): onnxruntime {100 * acc['onnx_int8']:.2f}% vs "
                     f"TFLite INT8 on TFLM {100 * ic['tflite_int8']:.2f}% ({ic['diff_points']:+.2f} points, "
                     f"{'within' if ic['ok'] else 'OUTSIDE'} {ic['tolerance_points']:g} point)")
    lines.append(f"export took {r['export_seconds']:.1f} s")
    return "\n".join(lines)


@click.command()
@click.option("--checkpoint", type=click.Path(), required=True,
              help="Supernet checkpoint (a file or a training folder with checkpoint.pt).")
@subnet_options
@click.option("--search", "search_dir", type=click.Path(), default=None,
              help="Search output folder (its search.json); use with --board.")
@click.option("--board", default=None, help="Board whose searched subnet to export (with --search).")
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True,
              help="Output file (.tflite, or .onnx for the ONNX formats).")
@click.option("--format", "fmt", type=click.Choice(["tflite", "onnx", "onnx-int8"]), default="tflite",
              show_default=True,
              help="tflite: full-integer INT8 for TFLM; onnx: float ONNX checked against the PyTorch subnet on "
                   "onnxruntime; onnx-int8: INT8 QDQ ONNX calibrated on the same images as the .tflite, its "
                   "accuracy checked against the TFLite INT8 model's.")
@click.option("--calibration-samples", type=click.IntRange(min=1), default=200, show_default=True,
              help="Training images that calibrate the INT8 quantization.")
@click.option("--test-images", type=click.IntRange(min=10), default=None,
              help="Measure float and INT8 accuracy on a stratified subset of this many test images (default: all).")
@seed_option
@click.option("--no-measure", is_flag=True, help="Skip measuring the real TFLM arena.")
@json_option
def export(checkpoint: str, subnet_file: str | None, preset: str | None, search_dir: str | None, board: str | None,
           out: str, fmt: str, calibration_samples: int, test_images: int | None, seed: int, no_measure: bool,
           as_json: bool) -> None:
    """Export one subnet to a full-integer INT8 TensorFlow Lite model for TFLM.

    BatchNorm is recalibrated for the subnet, the model converted with TensorFlow's converter
    (int8 in/out, per-channel conv weights, per-tensor classifier), checked op for op against
    the layer IR, run on the real TFLM kernels for its INT8 accuracy, and its TFLM arena
    measured. Writes OUT and a sidecar OUT.json (report: accuracy, arena, quantization, ops).

    --format onnx / onnx-int8: the same subnet (same BN recalibration) as ONNX for onnxruntime and
    NPU toolchains, verified with onnxruntime on the test split (float: max |diff| against the
    PyTorch subnet; INT8: accuracy against the TFLite INT8 model's); the sidecar has the report.
    """
    chosen = sum(x is not None for x in (subnet_file, preset, search_dir))
    if chosen != 1:
        raise click.UsageError("give exactly one of --subnet FILE, --preset min|max or --search DIR --board NAME")
    if (search_dir is None) != (board is None):
        raise click.UsageError("--search DIR and --board NAME go together")
    out_path = Path(out)
    if out_path.suffix.lower() == ".json":
        raise click.UsageError("--out must not end in .json (the sidecar report gets that name)")
    from ofa_mcu.atomic import check_writable

    if fmt != "tflite":
        from ofa_mcu.export.onnx import require_onnx

        require_onnx()
        if out_path.suffix.lower() != ".onnx":
            raise click.UsageError(f"--out must end in .onnx for --format {fmt}")
    check_writable(out_path)

    from ofa_mcu.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    space = ckpt.space
    if search_dir is not None:
        cfg = subnet_from_search(search_dir, board or "", space)
    elif preset:
        cfg = SubnetConfig.min(space) if preset == "min" else SubnetConfig.max(space)
    else:
        cfg = SubnetConfig.load(subnet_file or "").validate(space, source=subnet_file or "subnet")

    from ofa_mcu.atomic import write_bytes, write_json
    from ofa_mcu.data import load_source
    from ofa_mcu.export.pipeline import export_subnet

    data = load_source(ckpt.data, ckpt.seed)
    if data.in_channels != space.in_channels:
        raise UserError(f"{checkpoint}: data '{ckpt.data}' has {data.in_channels} channels, space expects {space.in_channels}")
    progress = None if as_json else (lambda msg: click.echo(f"export: {msg}", err=True))
    if fmt != "tflite":
        from ofa_mcu.export.onnx import export_onnx

        res = export_onnx(ckpt.supernet, cfg, data, fmt=fmt, calibration_samples=calibration_samples, seed=seed,
                          bn_samples=ckpt.bn_calib_samples, test_images=test_images, progress=progress)
        formatter = format_onnx_report
    else:
        res = export_subnet(ckpt.supernet, cfg, data, calibration_samples=calibration_samples, seed=seed,
                            bn_samples=ckpt.bn_calib_samples, measure=not no_measure, test_images=test_images,
                            progress=progress)
        formatter = format_report
    report = {**res.report, "model": out_path.name, "checkpoint": str(ckpt.path), "data": ckpt.data}
    write_bytes(out_path, res.model)
    write_json(sidecar_path(out_path), report)
    if as_json:
        echo_json({**report, "model_path": str(out_path), "report_path": str(sidecar_path(out_path))})
    else:
        click.echo(formatter(report, out_path))
