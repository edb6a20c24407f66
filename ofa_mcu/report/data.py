"""What a report shows, gathered from whatever an output folder holds.

A folder may hold any of: a training run (``metrics.json``), search results (``search.json``,
possibly several, e.g. one per runtime), compiled firmware projects (``compile.json``,
``export.json``, and, written by ``ofa-mcu demo``, ``build.json`` and ``profile.json``), and the
demo's own summary (``demo.json``: board order, boards without a feasible subnet, the commands
to build and flash real boards). Everything is optional: a board that was searched but never
compiled is shown with its search figures, a board that was never profiled with its predicted
latency (labelled as such).

No torch and no TensorFlow here, except that a search-only board's space is read from its
checkpoint when no export report carries it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ofa_mcu.artifacts import (
    BUILD_INFO,
    COMPILE_INFO,
    DEMO_STATE,
    EXPORT_REPORT,
    METRICS_FILE,
    PROFILE_FILE,
    SEARCH_FILE,
    AnyObject,
    CompileFile,
    ProfileFile,
    SearchFile,
    is_project,
    read_run_file,
)
from ofa_mcu.boards import Board, load_board
from ofa_mcu.config import SubnetConfig
from ofa_mcu.errors import UserError
from ofa_mcu.space import SearchSpace

_SKIP_DIRS = {"build", ".git", "__pycache__", "node_modules"}


def _read_json(path: Path, model: Any = None) -> Any:
    """A run file, validated by its typed reader (a damaged one is a one-line UserError)."""
    return read_run_file(model or AnyObject, path)


def _files(root: Path, name: str, max_depth: int = 4) -> list[Path]:
    """``name`` files under ``root`` (shallowest first), not descending into build folders."""
    found: list[Path] = []
    frontier = [root]
    for _ in range(max_depth + 1):
        nxt: list[Path] = []
        for d in frontier:
            if (d / name).is_file():
                found.append(d / name)
            try:
                nxt += sorted(p for p in d.iterdir() if p.is_dir() and p.name not in _SKIP_DIRS
                              and not p.name.startswith("."))
            except OSError:
                continue
        frontier = nxt
    return found


@dataclass
class LayerSram:
    index: int
    name: str
    kind: str
    macs: int
    live_bytes: int  # activation tensors alive during the op
    sram_bytes: int  # everything the model needs in SRAM during the op (arena + input copy)
    peak: bool


@dataclass
class LayerLatency:
    index: int
    name: str
    kind: str
    macs: int
    predicted_ms: float
    measured_ms: float | None = None


@dataclass
class BoardReport:
    """One board of the family and everything known about its deployment."""

    name: str
    board: Board | None = None
    runtime: str | None = None
    note: str | None = None  # e.g. why no subnet fits
    search: dict[str, Any] | None = None  # the board's entry of search.json
    search_meta: dict[str, Any] | None = None  # the rest of that search.json (predictor, data, space)
    compile: dict[str, Any] | None = None  # compile.json
    export: dict[str, Any] | None = None  # export.json
    build: dict[str, Any] | None = None  # build.json (sizes of the built image)
    profile: dict[str, Any] | None = None  # profile.json (ofa-mcu profile --json)
    project_dir: Path | None = None
    commands: list[str] = field(default_factory=list)
    space: SearchSpace | None = None
    subnet: SubnetConfig | None = None
    sram_layers: list[LayerSram] = field(default_factory=list)
    latency_layers: list[LayerLatency] = field(default_factory=list)
    predicted: dict[str, Any] = field(default_factory=dict)  # analysis figures (SRAM, flash, MACs)

    # ---- operating modes (one firmware, several subnets) ------------------------------------
    def modes(self) -> list[dict[str, Any]]:
        """One row per operating mode: from the compiled multi-mode project (``compile.json``'s
        ``modes``, with ``profile.json``'s measured latency and arena when profiled), else from
        the search (``search --modes K``). Keys: index, name, subnet_hash, resolution, int8 and
        validation accuracy, latency_ms with latency_source (measured / predicted), sram_bytes
        (measured arena used, or the predicted SRAM), model_flash_bytes, energy_uj, match."""
        compiled = (self.compile or {}).get("modes") or []
        searched = ((self.search or {}).get("modes") or {}).get("entries") or []
        by_hash = {e.get("subnet_hash"): e for e in searched if isinstance(e, dict)}
        measured = {int((m.get("mode") or {}).get("index", -1)): m for m in (self.profile or {}).get("modes") or []
                    if isinstance(m, dict)}
        rows: list[dict[str, Any]] = []
        for m in compiled:
            p, e, prof = m.get("predicted") or {}, by_hash.get(m.get("subnet_hash")) or {}, measured.get(m["index"])
            row = {"index": m["index"], "name": m.get("name"), "subnet_hash": m.get("subnet_hash"),
                   "resolution": m.get("resolution"), "acc_int8": (m.get("accuracy") or {}).get("int8"),
                   "acc_val": e.get("measured_acc"), "peak_sram_bytes": p.get("sram_bytes"),
                   "model_flash_bytes": p.get("model_flash_bytes"), "latency_ms": p.get("latency_ms"),
                   "latency_source": "predicted", "sram_bytes": p.get("sram_bytes"), "sram_source": "predicted",
                   "energy_uj": m.get("energy_uj_estimate"), "match": None}
            if prof:
                lat = prof.get("latency_instructions") if prof.get("emulated") else prof.get("latency_cycles")
                clock = prof.get("clock_hz") or (self.board.clock_hz if self.board else None)
                if lat and lat.get("mean") and clock:
                    row["latency_ms"], row["latency_source"] = 1000.0 * float(lat["mean"]) / clock, "measured"
                mem = prof.get("memory") or {}
                if mem.get("arena_used"):
                    row["sram_bytes"], row["sram_source"] = int(mem["arena_used"]), "measured (arena used)"
                row["match"] = (prof.get("check") or {}).get("match")
            rows.append(row)
        if not rows:
            for i, e in enumerate(searched):
                rows.append({"index": e.get("mode", i), "name": e.get("name"), "subnet_hash": e.get("subnet_hash"),
                             "resolution": (e.get("subnet") or {}).get("resolution"), "acc_int8": None,
                             "acc_val": e.get("measured_acc"), "acc_test": e.get("test_acc"),
                             "peak_sram_bytes": e.get("peak_sram_bytes"), "model_flash_bytes": e.get("model_flash_bytes"),
                             "latency_ms": e.get("latency_ms"), "latency_source": "predicted",
                             "sram_bytes": e.get("peak_sram_bytes"), "sram_source": "predicted",
                             "energy_uj": e.get("energy_uj"), "match": None})
        return rows

    # ---- the figures of the family table --------------------------------------------------
    @property
    def deployed(self) -> bool:
        return self.subnet is not None

    @property
    def kernels(self) -> str | None:
        """The kernels the firmware was built with: the profile's, else compile.json's (None when
        neither records them, e.g. files written before they did)."""
        for source in (self.profile, self.compile):
            if source and source.get("kernels"):
                return str(source["kernels"])
        return None

    @property
    def runtime_label(self) -> str:
        """The runtime and, where the runtime has a choice, its kernels: ``tflm (cmsis-nn kernels)``."""
        if not self.runtime:
            return "-"
        kernels = self.kernels
        return f"{self.runtime} ({kernels} kernels)" if kernels and kernels != self.runtime else self.runtime

    @property
    def acc_test(self) -> float | None:
        """The search's float accuracy on the whole TEST split (None without a search entry)."""
        if self.search and self.search.get("test_acc") is not None:
            return float(self.search["test_acc"])
        return None

    @property
    def acc_float(self) -> float | None:
        acc = (self.export or {}).get("accuracy") or (self.compile or {}).get("accuracy") or {}
        if acc.get("float") is not None:
            return float(acc["float"])
        if self.search and self.search.get("test_acc") is not None:  # never the validation figure
            return float(self.search["test_acc"])
        return None

    @property
    def acc_int8(self) -> float | None:
        acc = (self.export or {}).get("accuracy") or (self.compile or {}).get("accuracy") or {}
        return float(acc["int8"]) if acc.get("int8") is not None else None

    @property
    def sram(self) -> tuple[int | None, int | None]:
        """(predicted peak SRAM of the model, usable SRAM) in bytes."""
        return self.predicted.get("sram_used"), self.predicted.get("sram_limit")

    @property
    def flash(self) -> tuple[int | None, int | None]:
        """(predicted flash of model + runtime code, usable flash for both) in bytes."""
        return self.predicted.get("flash_used"), self.predicted.get("flash_limit")

    @property
    def macs(self) -> int | None:
        return self.predicted.get("macs")

    @property
    def measured_latency_ms(self) -> float | None:
        """Measured time per inference. In QEMU (-icount) the executed instructions at the board's
        clock, one instruction per cycle (QEMU's own virtual time runs at one instruction per ns)."""
        p = self.profile or {}
        if p.get("emulated"):
            instr = (p.get("latency_instructions") or {}).get("mean")
            clock = p.get("clock_hz") or (self.board.clock_hz if self.board else None)
            return 1000.0 * float(instr) / clock if instr is not None and clock else None
        ms = p.get("latency_ms") or {}
        return float(ms["mean"]) if ms.get("mean") is not None else None

    @property
    def predicted_latency_ms(self) -> float | None:
        if self.latency_layers:
            return sum(layer.predicted_ms for layer in self.latency_layers)
        if self.search and self.search.get("latency_ms") is not None:
            return float(self.search["latency_ms"])
        return None

    @property
    def latency(self) -> tuple[float | None, str]:
        """(latency in ms, "measured" or "predicted")."""
        if self.measured_latency_ms is not None:
            return self.measured_latency_ms, "measured"
        return self.predicted_latency_ms, "predicted"

    @property
    def emulated(self) -> bool:
        if self.board is not None:
            return self.board.emulated
        return bool((self.compile or {}).get("emulated"))

    @property
    def measurement(self) -> str:
        """How the measured latency was obtained (for labels)."""
        if not self.profile:
            return ""
        if self.profile.get("emulated"):
            mhz = (self.profile.get("clock_hz") or 0) / 1e6
            return f"QEMU: executed instructions at {mhz:g} MHz, one per cycle"
        return f"on the device ({self.profile.get('counter') or 'cycle counter'})"


@dataclass
class ReportData:
    root: Path
    boards: list[BoardReport]
    metrics: dict[str, Any] | None = None
    metrics_path: Path | None = None
    demo: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        meta = next((b.search_meta for b in self.boards if b.search_meta), None) or {}
        space = meta.get("space") or (self.metrics or {}).get("space")
        data = meta.get("data") or (self.metrics or {}).get("data")
        parts = [p for p in (space, data) if p]
        return "ofa-mcu report" + (f": {' on '.join(parts)}" if parts else "")


# ------------------------------------------------------------------------------------------


def _space_of(entry_space: str | None, export: dict | None, checkpoint: str | None,
              cache: dict[str, SearchSpace], notes: list[str]) -> SearchSpace | None:
    if export and isinstance(export.get("space_spec"), dict):
        spec = export["space_spec"]
        key = json.dumps(spec, sort_keys=True)
        if key not in cache:
            cache[key] = SearchSpace.from_dict(spec, source=EXPORT_REPORT)
        return cache[key]
    if checkpoint:
        key = f"ckpt:{checkpoint}"
        if key not in cache:
            try:
                from ofa_mcu.checkpoint import read_space

                cache[key] = read_space(checkpoint)
            except UserError:
                cache[key] = None  # type: ignore[assignment]
        if cache[key] is not None:
            return cache[key]
    if entry_space:
        from ofa_mcu.space import load_space

        try:
            sp = load_space(entry_space)
        except UserError:
            return None
        notes.append(f"space '{entry_space}' read as shipped (its checkpoint is not available): per-layer figures "
                     "assume its default input channels and classes")
        return sp
    return None


def _sram_layers(space: SearchSpace, cfg: SubnetConfig, board: Board | None, runtime: str,
                 predicted: dict[str, Any]) -> list[LayerSram]:
    from ofa_mcu.analysis import analyze

    a = analyze(space, cfg, board, runtime)
    predicted.setdefault("macs", a.graph.macs)
    predicted.setdefault("peak_layer", a.graph.ops[a.plan.peak_op].name)
    if a.sram is not None:
        predicted.setdefault("sram_used", a.sram.used)
        predicted.setdefault("sram_limit", a.sram.limit)
    if a.flash is not None:
        predicted.setdefault("flash_used", a.flash.used)
        predicted.setdefault("flash_limit", a.flash.limit)
    return [LayerSram(r["index"], r["name"], r["kind"], r["macs"], r["live_bytes"], r["sram_bytes"], r["peak"])
            for r in a.layers()]


def _latency_layers(space: SearchSpace, cfg: SubnetConfig, board: Board, runtime: str,
                    profile: dict[str, Any] | None) -> list[LayerLatency]:
    from ofa_mcu.ir import build_graph
    from ofa_mcu.search.latency import board_latency

    model = board_latency(board, runtime)
    g = build_graph(space, cfg)
    rows = [LayerLatency(op.index, op.name, op.kind, op.macs, 1000.0 * model.op_cycles(op.kind, op.macs) / board.clock_hz)
            for op in g.ops]
    clock = (profile or {}).get("clock_hz") or board.clock_hz
    emulated = bool((profile or {}).get("emulated"))
    measured = {int(x["index"]): x for x in (profile or {}).get("layers", []) if "index" in x}
    if not measured or not set(measured) <= {r.index for r in rows} or rows[-1].index not in measured:
        return rows  # no profile, or one of another model
    out: list[LayerLatency] = []
    pending: LayerLatency | None = None  # ops that ran inside the next profiled call (a fused kernel)
    for r in rows:
        if pending is not None:
            r = LayerLatency(r.index, f"{pending.name}+{r.name}", f"{pending.kind}+{r.kind}", pending.macs + r.macs,
                             pending.predicted_ms + r.predicted_ms)
            pending = None
        if r.index not in measured:
            pending = r
            continue
        m = measured[r.index]
        ticks = m.get("instructions") if emulated else m.get("cycles")
        if ticks is not None:
            r.measured_ms = 1000.0 * float(ticks) / clock
        out.append(r)
    return out


def gather(root: str | Path) -> ReportData:
    """Everything a report shows about the output folder ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: no such folder")
    notes: list[str] = []
    demo = _read_json(root / DEMO_STATE) if (root / DEMO_STATE).is_file() else None

    # training metrics: the first metrics.json with per-phase rows
    metrics, metrics_path = None, None
    for p in _files(root, METRICS_FILE):
        m = _read_json(p)
        if isinstance(m, dict) and isinstance(m.get("phases"), list):
            metrics, metrics_path = m, p
            break

    # search results (a compiled project keeps a copy of its search.json: those come last)
    searches: dict[str, tuple[dict, dict, Path]] = {}
    found = _files(root, SEARCH_FILE)
    found.sort(key=lambda p: is_project(p.parent))
    for p in found:
        data = _read_json(p, SearchFile)
        if not isinstance(data, dict) or not isinstance(data.get("boards"), dict):
            continue
        meta = {k: v for k, v in data.items() if k != "boards"}
        for name, entry in data["boards"].items():
            if isinstance(entry, dict) and name not in searches:
                searches[name] = (entry, meta, p.parent)

    # compiled projects (the shallowest one per board; FWDIR/emulate/BOARD re-renders come later)
    projects: dict[str, Path] = {}
    for p in _files(root, COMPILE_INFO):
        info = _read_json(p, CompileFile)
        if isinstance(info, dict) and info.get("board") and info["board"] not in projects:
            projects[info["board"]] = p.parent

    order: list[str] = list((demo or {}).get("boards", []))
    for name in [*searches, *projects]:
        if name not in order:
            order.append(name)
    status = (demo or {}).get("status", {})
    commands = (demo or {}).get("commands", {})
    board_files = (demo or {}).get("board_files", {})

    spaces: dict[str, SearchSpace] = {}
    boards: list[BoardReport] = []
    for name in order:
        br = BoardReport(name=name, note=(status.get(name) or {}).get("note"), commands=list(commands.get(name, [])))
        try:
            br.board = load_board(board_files.get(name, name))
        except UserError:
            notes.append(f"board {name}: its YAML cannot be loaded (budgets and latency model not shown)")
        if name in searches:
            br.search, br.search_meta, _ = searches[name]
        if name in projects:
            d = projects[name]
            br.project_dir = d
            br.compile = _read_json(d / COMPILE_INFO, CompileFile)
            br.export = _read_json(d / EXPORT_REPORT) if (d / EXPORT_REPORT).is_file() else None
            br.build = _read_json(d / BUILD_INFO) if (d / BUILD_INFO).is_file() else None
            br.profile = _read_json(d / PROFILE_FILE, ProfileFile) if (d / PROFILE_FILE).is_file() else None
        br.runtime = ((br.compile or {}).get("runtime") or (br.search or {}).get("runtime")
                      or (status.get(name) or {}).get("runtime"))
        subnet_dict = (br.compile or {}).get("subnet") or (br.search or {}).get("subnet")
        if subnet_dict:
            checkpoint = (br.compile or {}).get("checkpoint") or (br.search_meta or {}).get("checkpoint")
            space_name = (br.compile or {}).get("space") or (br.search_meta or {}).get("space")
            br.space = _space_of(space_name, br.export, checkpoint, spaces, notes)
            br.subnet = SubnetConfig.from_dict(subnet_dict, source=f"{name} subnet")
        _fill_predicted(br)
        if br.space is not None and br.subnet is not None and br.runtime:
            br.sram_layers = _sram_layers(br.space, br.subnet, br.board, br.runtime, br.predicted)
            if br.board is not None:
                br.latency_layers = _latency_layers(br.space, br.subnet, br.board, br.runtime, br.profile)
        boards.append(br)
    if not boards:
        notes.append("no search results or compiled projects found")
    return ReportData(root=root, boards=boards, metrics=metrics, metrics_path=metrics_path, demo=demo, notes=notes)


def _fill_predicted(br: BoardReport) -> None:
    """SRAM / flash / MACs as the compile step predicted them, else as the search did."""
    p = (br.compile or {}).get("predicted") or {}
    sram, flash = p.get("sram_budget") or {}, p.get("flash_budget") or {}
    if sram:
        br.predicted["sram_used"], br.predicted["sram_limit"] = sram.get("used"), sram.get("limit")
    if flash:
        br.predicted["flash_used"], br.predicted["flash_limit"] = flash.get("used"), flash.get("limit")
    if p.get("macs") is not None:
        br.predicted["macs"] = p["macs"]
    if p.get("peak_layer"):
        br.predicted["peak_layer"] = p["peak_layer"]
    s = br.search or {}
    limits = s.get("limits") or {}
    for key, value in (("sram_used", s.get("peak_sram_bytes")), ("sram_limit", limits.get("sram_bytes")),
                       ("flash_used", s.get("flash_bytes")), ("flash_limit", limits.get("flash_bytes")),
                       ("macs", s.get("macs"))):
        if br.predicted.get(key) is None and value is not None:
            br.predicted[key] = value
