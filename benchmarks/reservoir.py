"""labkit.reservoir against reservoirpy 0.4.2 (NumPy backend, and its JAX backend): speed side by side,
and statistical parity on reservoirpy's tutorial protocol.

Speed (A/B alternating after a warm-up, medians of --repeats; both sides draw their reservoir inside the
timed call, as a user's first fit does):
- single run: reservoirpy's tutorial 3 protocol (Mackey-Glass tau 17 rescaled to [-1, 1], forecast 10,
  2000 training steps; lr 0.3, sr 1.25, rc_connectivity 0.1, input_connectivity 0.2, ridge 1e-8) at
  100, 500 and 1000 units: `ESN(...).fit(x, y).predict(x_test)` vs `(Reservoir >> Ridge).fit(x, y).run(x_test)`;
- 10-seed sweep at 100 units: `ESNBatch.seeds(range(10), ...)` (one kernel call for all) vs a loop of
  10 reservoirpy models (and a loop of 10 labkit ESNs beside it);
- reservoirpy's own speed benchmark (tutorials/7-The-Jax-Backend.ipynb, reservoirpy@1fc1135): `ESN(units=1000,
  rc_connectivity=5/1000, input_connectivity=5/1000, ridge=10).fit(X, X).run(X)`, X ~ U(0, 1) of 50,000
  steps. The JAX anchor (`reservoirpy.jax.ESN`) runs in its own venv, build/bench/reservoirpy-jax-venv
  (reservoirpy==0.4.2, jax[cpu]; created on first use), in a long-lived worker process; each labkit call
  alternates with one worker request, the worker times its own call. Cold = the first call of each process
  (numba's on-disk cache load; JAX tracing and compilation).
Threads: labkit's and reservoirpy's BLAS get --threads threads (threadpoolctl); the JAX worker gets
XLA's intra-op thread pool limited to 1 thread when --threads 1 (its default otherwise).

Parity (--parity-seeds N, 0 to skip): N seeds each side on the tutorial protocol, forecast 10 and 100, and
the generative cells (500 units, sr 0.99, ridge 1e-4, 100 warm-up steps, 400 closed-loop steps; the
readout fitted with the tutorial's fit warmup 0, and with fit warmup 100); medians, quartiles,
Mann-Whitney U and Kolmogorov-Smirnov p-values.

Run: .venv/bin/python benchmarks/reservoir.py [--repeats 7] [--threads 1] [--no-jax] [--parity-seeds 50]
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
from harness import AnchorWorker, anchor_venv, compare, machine  # noqa: E402

from labkit.reservoir import ESN, ESNBatch, mackey_glass, nrmse, to_forecasting  # noqa: E402
from labkit.tables import markdown_table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "build" / "bench" / "reservoirpy-jax-venv"
TUTORIAL = dict(lr=0.3, sr=1.25, input_scaling=1.0, rc_connectivity=0.1, input_connectivity=0.2)
BIG = dict(units=1000, rc_connectivity=5 / 1000, input_connectivity=5 / 1000, ridge=10.0)
BIG_STEPS = 50_000

WORKER = r"""
import json, os, sys, time
import numpy as np
import reservoirpy.jax as rjx
params = json.loads(sys.argv[1])
X = np.random.default_rng(260_418).uniform(size=(int(sys.argv[2]), 1))
for line in sys.stdin:
    t = time.perf_counter()
    y = rjx.ESN(**params).fit(X, X).run(X)
    y = np.asarray(y)
    s = time.perf_counter() - t
    print(json.dumps({"s": s, "checksum": float(np.abs(y).mean())}), flush=True)
"""


def mg_task(forecast: int):
    X = mackey_glass(2510, tau=17)
    X = 2 * (X - X.min()) / (X.max() - X.min()) - 1
    return to_forecasting(X, forecast)


def rpy_model(units: int, seed: int, ridge: float, **params):
    from reservoirpy.nodes import Reservoir, Ridge
    return Reservoir(units, seed=seed, **{**TUTORIAL, **params}) >> Ridge(ridge=ridge)


def ensure_jax_venv() -> Path | None:
    return anchor_venv(VENV, ["reservoirpy==0.4.2", "jax[cpu]"])


class JaxWorker(AnchorWorker):
    close_timeout = 120

    def __init__(self, py: Path, threads: int):
        script = ROOT / "build" / "bench" / "reservoirpy_jax_worker.py"
        script.write_text(WORKER)
        env = {**os.environ, "JAX_PLATFORMS": "cpu"}
        if threads == 1:
            env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        self.p = subprocess.Popen([str(py), str(script), json.dumps(BIG), str(BIG_STEPS)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, env=env)


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def alternate(ours, anchor_seconds, repeats: int) -> dict:
    """harness.compare's convention where the anchor times itself (a worker in another process)."""
    ours()
    anchor_seconds()
    a, b = [], []
    for _ in range(repeats):
        a.append(timed(ours))
        b.append(anchor_seconds())
    return {"labkit s": statistics.median(a), "anchor s": statistics.median(b),
            "speed-up": statistics.median(b) / statistics.median(a), "labkit min s": min(a), "anchor min s": min(b)}


def speed(args) -> list[dict]:
    rows = []
    for units in (100, 500, 1000):
        x, y = mg_task(10)

        def ours(units=units, x=x, y=y):
            return ESN(units=units, ridge=1e-8, seed=1234, **TUTORIAL).fit(x[:2000], y[:2000]).predict(x[2000:])

        def theirs(units=units, x=x, y=y):
            return rpy_model(units, 1234, 1e-8).fit(x[:2000], y[:2000]).run(x[2000:])

        r = compare(ours, theirs, repeats=args.repeats)
        rows.append({"comparison": f"single run, {units} units (tutorial protocol, forecast 10)",
                     "anchor": "reservoirpy 0.4.2 NumPy", "labkit s": r["labkit_s"], "anchor s": r["anchor_s"],
                     "speed-up": 1 / r["ratio"], "NRMSE labkit / anchor":
                     f"{nrmse(y[2000:], ours()):.4g} / {nrmse(y[2000:], theirs()):.4g}"})
    x, y = mg_task(10)
    seeds = range(10)
    batch = lambda: ESNBatch.seeds(seeds, ridge=1e-8, units=100, **TUTORIAL).fit(x[:2000], y[:2000]).predict(x[2000:])  # noqa: E731
    loop = lambda: [ESN(units=100, ridge=1e-8, seed=s, **TUTORIAL).fit(x[:2000], y[:2000]).predict(x[2000:])  # noqa: E731
                    for s in seeds]
    rloop = lambda: [rpy_model(100, s, 1e-8).fit(x[:2000], y[:2000]).run(x[2000:]) for s in seeds]  # noqa: E731
    r = compare(batch, rloop, repeats=args.repeats)
    rows.append({"comparison": "10-seed sweep, 100 units: ESNBatch (one kernel call)",
                 "anchor": "reservoirpy 0.4.2 NumPy, 10 models in a loop", "labkit s": r["labkit_s"],
                 "anchor s": r["anchor_s"], "speed-up": 1 / r["ratio"],
                 "NRMSE labkit / anchor": f"median {np.median([nrmse(y[2000:], p) for p in batch()]):.4g} / "
                                          f"{np.median([nrmse(y[2000:], p) for p in rloop()]):.4g}"})
    r = compare(loop, rloop, repeats=args.repeats)
    rows.append({"comparison": "10-seed sweep, 100 units: 10 labkit ESNs in a loop",
                 "anchor": "reservoirpy 0.4.2 NumPy, 10 models in a loop", "labkit s": r["labkit_s"],
                 "anchor s": r["anchor_s"], "speed-up": 1 / r["ratio"], "NRMSE labkit / anchor": ""})

    X = np.random.default_rng(260_418).uniform(size=(BIG_STEPS, 1))
    big = lambda: ESN(**BIG).fit(X, X).predict(X)  # noqa: E731
    if not args.no_jax and (py := ensure_jax_venv()) is not None:
        w = JaxWorker(py, args.threads)
        cold = w.request()
        r = alternate(big, lambda: w.request()["s"], max(5, args.repeats // 2 + 2))
        w.close()
        rows.append({"comparison": f"reservoirpy's speed benchmark: 1000 units, {BIG_STEPS:,} steps, fit + run",
                     "anchor": f"reservoirpy 0.4.2 JAX (jax 0.10.2, own venv; cold {cold['s']:.2f} s)",
                     "labkit s": r["labkit s"], "anchor s": r["anchor s"], "speed-up": r["speed-up"],
                     "NRMSE labkit / anchor": f"fastest runs {r['labkit min s']:.2f} / {r['anchor min s']:.2f} s"})
    if not args.no_numpy_big:
        from reservoirpy import ESN as RESN
        r = compare(big, lambda: RESN(**BIG).fit(X, X).run(X), repeats=5)
        rows.append({"comparison": f"reservoirpy's speed benchmark: 1000 units, {BIG_STEPS:,} steps, fit + run",
                     "anchor": "reservoirpy 0.4.2 NumPy", "labkit s": r["labkit_s"], "anchor s": r["anchor_s"],
                     "speed-up": 1 / r["ratio"], "NRMSE labkit / anchor": ""})
    return rows


def parity(n_seeds: int) -> list[dict]:
    from scipy.stats import ks_2samp, mannwhitneyu
    rows = []
    seeds = range(n_seeds)

    def row(name, ours, theirs):
        ours, theirs = np.asarray(ours), np.asarray(theirs)
        q = lambda a: f"{np.median(a):.4g} [{np.quantile(a, 0.25):.3g}, {np.quantile(a, 0.75):.3g}]"  # noqa: E731
        rows.append({"task": name, "labkit median [q25, q75]": q(ours), "reservoirpy median [q25, q75]": q(theirs),
                     "median ratio - 1": f"{np.median(ours) / np.median(theirs) - 1:+.1%}",
                     "Mann-Whitney p": mannwhitneyu(ours, theirs).pvalue, "KS p": ks_2samp(ours, theirs).pvalue})

    for forecast in (10, 100):
        x, y = mg_task(forecast)
        ours = [nrmse(y[2000:], p) for p in ESNBatch.seeds(seeds, ridge=1e-8, units=100, **TUTORIAL)
                .fit(x[:2000], y[:2000]).predict(x[2000:])]
        theirs = [nrmse(y[2000:], rpy_model(100, s, 1e-8).fit(x[:2000], y[:2000]).run(x[2000:])) for s in seeds]
        row(f"forecast {forecast}, 100 units", ours, theirs)
    x, y = mg_task(1)
    for warmup in (0, 100):
        ours, theirs = [], []
        for s in seeds:
            esn = ESN(units=500, ridge=1e-4, seed=s, **{**TUTORIAL, "sr": 0.99}).fit(x[:2000], y[:2000], warmup=warmup)
            ours.append(nrmse(x[2100:2500], esn.generate(400, warmup=x[2000:2100])))
            m = rpy_model(500, s, 1e-4, sr=0.99).fit(x[:2000], y[:2000], warmup=warmup)
            m.nodes[0].reset()
            yy = m.run(x[2000:2100])[-1]
            gen = np.empty((400, 1))
            for t in range(400):   # the tutorial's loop, aligned: gen[0] is the last teacher-forced output
                gen[t] = yy
                yy = m(yy)
            theirs.append(nrmse(x[2100:2500], gen))
        row(f"generative, 500 units, 400 steps (fit warmup {warmup})", ours, theirs)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-jax", action="store_true")
    ap.add_argument("--no-numpy-big", action="store_true", help="skip reservoirpy NumPy on the 50,000-step run")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--parity-seeds", type=int, default=50)
    args = ap.parse_args()
    from threadpoolctl import threadpool_limits
    threadpool_limits(args.threads)
    X = np.random.default_rng(0).uniform(size=(100, 1))
    cold = timed(lambda: ESN(units=50, seed=0, ridge=1e-6).fit(X, X).predict(X))   # numba's cache load
    print("# Reservoir: labkit.reservoir vs reservoirpy 0.4.2\n")
    print(f"Machine: {machine()}; load average at the start {os.getloadavg()[0]:.1f} (the machine is shared: "
          f"absolute times are inflated, compare the ratios, measured A/B alternating in one run). BLAS threads: "
          f"{args.threads}. labkit cold start (first fit in this process, numba cache load): {cold:.2f} s.\n")
    if not args.no_speed:
        print(markdown_table(speed(args), floatfmt=".4g"))
    if args.parity_seeds:
        print(f"\n## Statistical parity, {args.parity_seeds} seeds each (each side draws its own reservoirs)\n")
        print(markdown_table(parity(args.parity_seeds), floatfmt=".3g"))


if __name__ == "__main__":
    main()
