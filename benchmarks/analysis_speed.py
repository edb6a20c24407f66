"""Analysis speed: subnet configs per second through IR build + planner (+ flash model), one core.

Also prints the predicted peak SRAM and flash of the min/max subnets of each shipped space for
both runtimes. Run: .venv/bin/python benchmarks/analysis_speed.py
"""

from __future__ import annotations

import time

from ofa_mcu.config import SubnetConfig
from ofa_mcu.ir import build_graph
from ofa_mcu.runtimes import get_runtime, runtime_names
from ofa_mcu.space import load_space
from ofa_mcu.table import fmt_bytes, render


def configs_per_second(space_name: str, runtime: str, n: int = 2000) -> float:
    sp = load_space(space_name)
    cfgs = [SubnetConfig.sample(sp, i) for i in range(n)]
    rt = get_runtime(runtime)
    t = time.perf_counter()
    for c in cfgs:
        g = build_graph(sp, c)
        _ = rt.plan(g, "reference").peak_bytes
        rt.flash_bytes(g)
    return n / (time.perf_counter() - t)


def main() -> None:
    rows = []
    for name in ("mcu-32", "mcu-imagenet"):
        for rt in runtime_names():
            rows.append((name, rt, f"{configs_per_second(name, rt):,.0f}"))
    print(render(["space", "runtime", "configs/s"], rows, title="IR build + planner + flash model, one core"))
    rows = []
    for name in ("mcu-32", "mcu-imagenet"):
        sp = load_space(name)
        for label, cfg in (("min", SubnetConfig.min(sp)), ("max", SubnetConfig.max(sp))):
            g = build_graph(sp, cfg)
            for rt in runtime_names():
                r = get_runtime(rt)
                rows.append((name, label, rt, f"{g.macs:,}", fmt_bytes(r.plan(g, "reference").peak_bytes),
                             fmt_bytes(r.flash_bytes(g))))
    print()
    print(render(["space", "subnet", "runtime", "MACs", "arena", "model flash"], rows,
                 title="predicted arena (calibrated TFLM cost model; native: our planner)"))


if __name__ == "__main__":
    main()
