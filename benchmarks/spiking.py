"""1000 LIF neurons x 10,000 steps with the full raster: labkit.spiking.LIF vs snnTorch and Brian2.

The experiment: tau = 20 ms, dt = 1 ms, threshold 1, reset to zero, constant currents spaced
linearly over [0, 3] threshold units, 10 s simulated, every spike kept (a (T, N) raster, or
Brian2's SpikeMonitor). Every side integrates tau dv/dt = -v + I exactly over a step.

- labkit: `LIF(reset="zero").run(I, n_steps=10_000)` (numba; the readable numpy loop beside it).
- snnTorch 1.0.0 `Leaky(beta, reset_mechanism="zero")` fed (1 - beta) I, under `no_grad`,
  spikes stored into a preallocated raster (in this process; A/B alternating as harness.compare).
- Brian2 2.9.0 does not install beside labkit's numpy (it needs numpy < 2.3), so the benchmark
  creates its own venv (build/bench/brian2-venv) and runs two long-lived Brian2 worker processes
  (runtime "numpy" target; cpp_standalone, built once, its binary re-run): each labkit call
  alternates with one worker request; the worker times `run()` (numpy) or reads the binary's own
  simulation time (cpp_standalone's last_run_info.txt) and answers in JSON.

Run: .venv/bin/python benchmarks/spiking.py [--repeats 7] [--no-brian2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from harness import AnchorWorker, anchor_venv, machine, median_time  # noqa: E402

from labkit import spiking  # noqa: E402
from labkit.tables import markdown_table  # noqa: E402

N, STEPS, DT, TAU = 1000, 10_000, 1e-3, 20e-3
ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "build" / "bench" / "brian2-venv"

WORKER = r"""
import json, os, sys, time
import numpy as np
import brian2 as b2
N, STEPS, TARGET, WORK = int(sys.argv[1]), int(sys.argv[2]), sys.argv[5], sys.argv[6]
DT, TAU = float(sys.argv[3]), float(sys.argv[4])
b2.prefs.codegen.target = "numpy"
b2.BrianLogger.log_level_error()
def network():
    tau = TAU * b2.second
    G = b2.NeuronGroup(N, "dv/dt = (I - v) / tau : 1\nI : 1", threshold="v > 1", reset="v = 0",
                       method="exact", dt=DT * b2.second)
    G.I = np.linspace(0, 3, N)
    M = b2.SpikeMonitor(G)
    return G, M, tau
if TARGET == "cpp_standalone":
    b2.set_device("cpp_standalone", directory=WORK, build_on_run=False)
    G, M, tau = network()
    b2.run(STEPS * DT * b2.second)
    t = time.perf_counter()
    b2.device.build(directory=WORK, compile=True, run=True, with_output=False, clean=True)
    total = time.perf_counter() - t
    print(json.dumps({"build_and_first_run_s": total, "sim_s": b2.device._last_run_time,
                      "spikes": int(M.num_spikes)}), flush=True)
for line in sys.stdin:
    if TARGET == "cpp_standalone":
        b2.device.run(WORK, with_output=False)
        print(json.dumps({"sim_s": b2.device._last_run_time}), flush=True)
    else:
        b2.start_scope()
        G, M, tau = network()
        t = time.perf_counter()
        b2.run(STEPS * DT * b2.second)
        print(json.dumps({"sim_s": time.perf_counter() - t, "spikes": int(M.num_spikes)}), flush=True)
"""


def ensure_brian2_venv() -> Path | None:
    return anchor_venv(VENV, ["brian2==2.9.0", "numpy<2.3"])


def alternate(ours, anchor, repeats: int) -> dict:
    """harness.compare's convention (warm-up, then A, B, A, B, ...; medians), where `anchor()`
    returns its own seconds (a Brian2 worker times its run). Also the fastest run of each: on a
    shared machine the minimum is the least disturbed measurement."""
    ours()
    anchor()
    a, b = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        ours()
        a.append(time.perf_counter() - t)
        b.append(anchor())
    return {"labkit s": statistics.median(a), "anchor s": statistics.median(b),
            "speed-up": statistics.median(b) / statistics.median(a), "labkit min s": min(a),
            "anchor min s": min(b), "speed-up of mins": min(b) / min(a)}


def timed(fn):
    def run():
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t
    return run


class Worker(AnchorWorker):
    """A Brian2 process in the other venv; `request()` runs one simulation there."""

    def __init__(self, py: Path, target: str):
        work = ROOT / "build" / "bench" / f"brian2-{target}"
        script = ROOT / "build" / "bench" / "brian2_worker.py"
        script.write_text(WORKER)
        self.p = subprocess.Popen([str(py), str(script), str(N), str(STEPS), str(DT), str(TAU), target, str(work)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.first = json.loads(self.p.stdout.readline()) if target == "cpp_standalone" else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--no-brian2", action="store_true")
    args = ap.parse_args()
    current = np.linspace(0, 3, N)
    lif = spiking.LIF(tau=TAU, dt=DT, reset="zero")
    t = time.perf_counter()
    ref = lif.run(current, n_steps=STEPS)  # first call: numba loads its on-disk cache (or compiles)
    cold = time.perf_counter() - t
    ours = lambda: lif.run(current, n_steps=STEPS)  # noqa: E731
    exact = spiking.lif_rate(current, TAU, 1.0, dt=DT)
    rows = []
    readable = median_time(lambda: lif.run(current, n_steps=STEPS, backend="readable"), repeats=5)

    import snntorch as snn
    import torch
    torch.set_num_threads(1)
    leaky = snn.Leaky(beta=float(np.exp(-DT / TAU)), reset_mechanism="zero")
    drive = torch.tensor((1 - np.exp(-DT / TAU)) * current, dtype=torch.float32)

    def snntorch_run():
        raster = torch.zeros((STEPS, N), dtype=torch.bool)
        mem = torch.zeros(N)
        with torch.no_grad():
            for k in range(STEPS):
                spk, mem = leaky(drive, mem)
                raster[k] = spk > 0
        return raster

    r = alternate(ours, timed(snntorch_run), args.repeats)
    snn_spikes = int(snntorch_run().sum())
    rows.append({"anchor": "snnTorch 1.0.0 Leaky (no_grad, 1 thread)", **r,
                 "spikes labkit / anchor": f"{int(ref.spikes.sum()):,} / {snn_spikes:,}"})

    py = None if args.no_brian2 else ensure_brian2_venv()
    if py is not None:
        for target in ("numpy", "cpp_standalone"):
            try:
                w = Worker(py, target)
                first = w.first or w.request()  # numpy: the first run generates its code (cold)
            except (json.JSONDecodeError, OSError) as e:  # e.g. no C++ compiler for cpp_standalone
                rows.append({"anchor": f"Brian2 2.9.0 {target}: failed ({type(e).__name__})"})
                continue
            r = alternate(ours, lambda w=w: w.request()["sim_s"], args.repeats)
            w.close()
            name = "Brian2 2.9.0 runtime, numpy target" if target == "numpy" else "Brian2 2.9.0 cpp_standalone"
            note = (f"cold (first run, code generation) {first['sim_s']:.3f} s" if target == "numpy" else
                    f"clean build + compile + first run {first['build_and_first_run_s']:.1f} s; simulation time")
            rows.append({"anchor": f"{name} ({note})", **r,
                         "spikes labkit / anchor": f"{int(ref.spikes.sum()):,} / {first['spikes']:,}"})
    print("# Spiking: 1000 LIF x 10,000 steps (dt = 1 ms, 10 s), full raster\n")
    print(f"Machine: {machine()}. A/B alternating, median of {args.repeats} "
          f"(and the fastest run of each); labkit single-threaded numba. Load average at the start: "
          f"{os.getloadavg()[0]:.1f}.\n")
    print(markdown_table(rows, floatfmt=".4g"))
    print(f"\nlabkit fast path: first call in this process {cold:.3f} s (numba on-disk cache load or compile), "
          f"warm {rows[0]['labkit s']:.4f} s; readable numpy loop {readable:.3f} s (median of 5). "
          f"Spikes: {int(ref.spikes.sum()):,}; |rate - exact discrete formula| max "
          f"{np.max(np.abs(ref.rates() - exact)) * STEPS * DT:.2f} spikes per 10 s window.")


if __name__ == "__main__":
    main()
