"""HNSW: labkit (backend="fast", and backend="readable") vs hnswlib 0.8.0, side by side.

Single thread unless stated (numba.set_num_threads(1), hnswlib num_threads=1), same data, M,
ef_construction and seed; A/B alternating, median of 5 (harness.compare). Prints markdown tables:
build ratio warm (later builds in one process) and cold (the first build in a fresh process,
import and numba cache load included, vs hnswlib's first build in a fresh process), where the cold
overhead goes, query ratio and recall@10 per ef, distance computations per query vs brute force,
graph agreement with hnswlib, and the batched two-thread comparison; then the inspector
(widgets.hnsw): the dashboard page's build time and a 20,000-point GraphExplorer's redraw after a
`layer` or `step` move, the view alone and with the in-place Bokeh update (medians over the moves).
Run: .venv/bin/python benchmarks/hnsw.py [--quick] [--cold-only] [--skip-widgets | --widgets-only]
"""

from __future__ import annotations

import compileall
import os
import statistics
import subprocess
import sys
import tempfile

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import hnswlib  # noqa: E402
import numba  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from harness import compare, machine, median_over, median_time  # noqa: E402

from labkit import data  # noqa: E402
from labkit.hnsw import HNSW  # noqa: E402
from labkit.tables import markdown_table  # noqa: E402

M, EFC, SEED, K = 16, 200, 100, 10
QUICK = "--quick" in sys.argv
COLD_ONLY = "--cold-only" in sys.argv
SKIP_WIDGETS = "--skip-widgets" in sys.argv
WIDGETS_ONLY = "--widgets-only" in sys.argv
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A fresh process: numpy imported and the data loaded first (the same for both sides), then the
# clock runs over the library's import and its first build. labkit's includes loading its insertion
# kernel: the ahead-of-time extension (labkit/hnsw/aot.py; `make setup` builds it), or with LABKIT_AOT=0
# numba's JIT kernel (importing numba, its CPU-target set-up, the kernel from numba's on-disk cache).
# Both import from bytecode (.pyc), as a fresh process does after the first import of an install:
# cold_tables compiles labkit's first, because with PYTHONDONTWRITEBYTECODE set an editable install
# never writes them and each fresh process compiles labkit's sources again (+0.045 s, measured here).
_COLD = {
    "labkit": """
import time, numpy as np
X = np.load({path!r})
t0 = time.perf_counter()
from labkit.hnsw import HNSW
idx = HNSW(X.shape[1], M={M}, ef_construction={efc}, seed={seed})
idx.add(X)
print(time.perf_counter() - t0)
""",
    "hnswlib": """
import time, numpy as np
X = np.load({path!r})
t0 = time.perf_counter()
import hnswlib
p = hnswlib.Index(space="l2", dim=X.shape[1])
p.init_index(max_elements=len(X), M={M}, ef_construction={efc}, random_seed={seed})
p.add_items(X, num_threads=1)
print(time.perf_counter() - t0)
""",
    # the labkit side again, phase by phase
    "phases": """
import time, numpy as np
X = np.load({path!r})
t = [time.perf_counter()]
from labkit.hnsw import HNSW
t.append(time.perf_counter())
from labkit.hnsw.aot import insert_kernel
insert_kernel()
t.append(time.perf_counter())
idx = HNSW(X.shape[1], M={M}, ef_construction={efc}, seed={seed})
idx.add(X)
t.append(time.perf_counter())
print(" ".join(str(b - a) for a, b in zip(t, t[1:])))
""",
}
PHASES = ["import labkit.hnsw", "load the insertion kernel", "the first build"]


def fresh(kind: str, path: str, env: dict | None = None) -> list[float]:
    code = _COLD[kind].format(path=path, M=M, efc=EFC, seed=SEED)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                         env={**os.environ, **(env or {})}).stdout
    return [float(x) for x in out.split()]


def cold_start(ds, repeats: int = 5) -> dict:
    """First build in a fresh process, labkit vs hnswlib, alternating, median of `repeats`; and the
    labkit side's phases (median of `repeats` more fresh processes)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "train.npy")
        np.save(path, ds.train)
        a, b = [], []
        for _ in range(repeats):
            a += fresh("labkit", path)
            b += fresh("hnswlib", path)
        jit = [fresh("labkit", path, {"LABKIT_AOT": "0"})[0] for _ in range(repeats)]
        phases = [fresh("phases", path) for _ in range(repeats)]
        jit_phases = [fresh("phases", path, {"LABKIT_AOT": "0"}) for _ in range(repeats)]
        with tempfile.TemporaryDirectory() as empty:  # no numba cache: the very first JIT run compiles
            compiling = fresh("labkit", path, {"NUMBA_CACHE_DIR": empty, "LABKIT_AOT": "0"})[0]
    la, lb, lj = statistics.median(a), statistics.median(b), statistics.median(jit)
    return {"labkit_s": la, "anchor_s": lb, "ratio": la / lb, "jit_s": lj, "jit_ratio": lj / lb,
            "compiling_s": compiling,
            "phases": [statistics.median(p[i] for p in phases) for i in range(len(PHASES))],
            "jit_phases": [statistics.median(p[i] for p in jit_phases) for i in range(len(PHASES))]}


def recall(labels, gt):
    return float(np.mean([len(set(a) & set(g)) / K for a, g in zip(labels, gt, strict=True)]))


def build_pair(ds):
    def ours():
        idx = HNSW(ds.dim, M=M, ef_construction=EFC, seed=SEED)
        idx.add(ds.train)
        return idx

    def theirs():
        p = hnswlib.Index(space="l2", dim=ds.dim)
        p.init_index(max_elements=len(ds.train), M=M, ef_construction=EFC, random_seed=SEED)
        p.add_items(ds.train, num_threads=1)
        return p
    return ours, theirs


def print_cold(cold_rows, phase_rows) -> None:
    print("## First build in a fresh process (cold) beside later builds (warm), single thread\n")
    from labkit.hnsw.aot import load
    kind = "the ahead-of-time extension" if load() is not None else "NOT BUILT (run make setup): numba's JIT kernel"
    print("Cold: a fresh `python` per run; after numpy and the data, the clock covers the import and the first "
          f"build (labkit: its insertion kernel is {kind}; `JIT`: LABKIT_AOT=0, numba import, CPU-target set-up, "
          "kernel loaded from numba's on-disk cache). A/B alternating, median of 5. `compiling s`: one JIT run "
          "with an empty NUMBA_CACHE_DIR.\n")
    print(markdown_table(cold_rows, floatfmt=".3g"))
    print("\nWhere labkit's cold time goes (median of 5 fresh processes, seconds):\n")
    print(markdown_table(phase_rows, floatfmt=".3g"))


def cold_tables(sets, warm: dict) -> tuple[list, list]:
    compileall.compile_dir(os.path.join(ROOT, "labkit"), quiet=1)
    cold_rows, phase_rows = [], []
    for ds in sets:
        c = cold_start(ds)
        row = {"dataset": ds.name, "n x dim": f"{len(ds.train)} x {ds.dim}", "cold labkit s": c["labkit_s"],
               "cold hnswlib s": c["anchor_s"], "cold ratio": c["ratio"], "cold JIT s": c["jit_s"],
               "cold JIT ratio": c["jit_ratio"]}
        if ds.name in warm:
            row["warm ratio"] = warm[ds.name]
        row["compiling s"] = c["compiling_s"]
        cold_rows.append(row)
        phase_rows.append({"dataset": ds.name, "kernel": "AOT", **dict(zip(PHASES, c["phases"], strict=True))})
        phase_rows.append({"dataset": ds.name, "kernel": "JIT", **dict(zip(PHASES, c["jit_phases"], strict=True))})
    return cold_rows, phase_rows


def widget_redraw() -> tuple[list[dict], list[dict]]:
    """The HNSW page's build, and a GraphExplorer of 20,000 points (gaussian 32-d, M=8, ef_construction=40)
    redrawn after `layer` and `step` moves: the drawn data alone (graph_data / replay_data, what a move
    recomputes) and the whole server-side update (data + Bokeh sources patched in place). Medians over the moves."""
    import panel as pn

    from widgets.hnsw import GraphExplorer, hnsw_page
    pn.extension(inline=True)
    hnsw_page()  # warm-up: sklearn import, numba kernels loaded from cache
    pages = [{"page": "hnsw (digits, M=8, ef_construction=100)", "build s (median of 5)": median_time(hnsw_page),
              "build + Bokeh model s (median of 5)": median_time(lambda: pn.panel(hnsw_page()).get_root()),
              "build target s": 2.0}]
    ds = data.gaussian(20000, 32, 10)
    index = HNSW(32, M=8, ef_construction=40)
    index.add(ds.train)
    ex = GraphExplorer(index, queries=ds.test, follow=False)
    levels = [1, 0, 2, 0, 1]
    last = ex.param.step.bounds[1]
    steps = [5, last // 4, last // 2, 3 * last // 4, last]

    def layer_view(level):
        ex.layer = level
        ex.graph_data()

    def step_view(step):
        ex.step = step
        ex.replay_data()

    rows = [{"move": "layer", "what": "graph_data", "moves": len(levels),
             "ms (median)": 1e3 * median_over(layer_view, levels), "target ms": 100},
            {"move": "step", "what": "replay_data", "moves": len(steps),
             "ms (median)": 1e3 * median_over(step_view, steps), "target ms": 100}]
    pn.panel(ex).get_root()  # now each move also patches the Bokeh models in place
    rows += [{"move": "layer", "what": "view + Bokeh update", "moves": len(levels),
              "ms (median)": 1e3 * median_over(lambda v: setattr(ex, "layer", v), levels), "target ms": 500},
             {"move": "step", "what": "view + Bokeh update", "moves": len(steps),
              "ms (median)": 1e3 * median_over(lambda v: setattr(ex, "step", v), steps), "target ms": 500}]
    return pages, rows


def print_widgets() -> None:
    pages, rows = widget_redraw()
    print("\n## Inspector: the HNSW page's build and a 20,000-point GraphExplorer's redraw (server side)\n")
    print(markdown_table(pages, floatfmt=".3g"))
    print()
    print(markdown_table(rows, floatfmt=".3g"))


def main() -> None:
    numba.set_num_threads(1)
    if WIDGETS_ONLY:
        print(f"Machine: {machine()}.")
        print_widgets()
        return
    sets = [data.digits(), data.random_xs_20(), data.gaussian(5000 if QUICK else 20000, 64, 1000)]
    HNSW(4).add(np.eye(4))  # compile (or load the numba cache) outside the timings
    if COLD_ONLY:
        warm = {}
        for ds in sets:
            warm[ds.name] = compare(*build_pair(ds), repeats=5)["ratio"]
        print(f"Machine: {machine()}. M={M}, ef_construction={EFC}, seed={SEED}.\n")
        print_cold(*cold_tables(sets, warm))
        return
    build_rows, query_rows, agree_rows = [], [], []
    for ds in sets:
        gt = ds.neighbors(K)
        ours, theirs = build_pair(ds)
        r = compare(ours, theirs, repeats=5)
        build_rows.append({"dataset": ds.name, "n x dim": f"{len(ds.train)} x {ds.dim}", "labkit s": r["labkit_s"],
                           "hnswlib s": r["anchor_s"], "ratio": r["ratio"]})
        idx, p = ours(), theirs()
        p.set_num_threads(1)
        g = idx.graph()
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            p.save_index(f"{tmp}/h.bin")
            from labkit.hnsw import read_index
            h = read_index(f"{tmp}/h.bin")
        same = np.mean([np.array_equal(g.links0[i, :g.count0[i]], h.links0[i, :h.count0[i]]) for i in range(g.n)])
        agree_rows.append({"dataset": ds.name, "identical levels": bool(np.array_equal(g.levels, h.levels)),
                           "identical layer-0 lists": same})
        bf = compare(lambda: data.ground_truth(ds.train, ds.test, K), lambda: None, repeats=5)  # noqa: B023
        bf_qps = len(ds.test) / bf["labkit_s"]
        for ef in (10, 50, 100, 200):
            p.set_ef(ef)
            lab_o, _, stats = idx.search(ds.test, k=K, ef=ef, return_stats=True)
            lab_t = p.knn_query(ds.test, k=K)[0]
            q = compare(lambda: idx.search(ds.test, k=K, ef=ef), lambda: p.knn_query(ds.test, k=K),  # noqa: B023
                        repeats=5)
            query_rows.append({"dataset": ds.name, "ef": ef, "recall labkit": recall(lab_o, gt),
                               "recall hnswlib": recall(lab_t, gt), "same ids": float(np.mean(lab_o == lab_t)),
                               "labkit QPS": len(ds.test) / q["labkit_s"], "hnswlib QPS": len(ds.test) / q["anchor_s"],
                               "query ratio": q["ratio"],
                               "dist/query": float(stats.distance_computations.mean()),
                               "dist/query / N": float(stats.distance_computations.mean()) / len(ds.train),
                               "brute-force QPS": bf_qps,
                               "HNSW beats brute force": len(ds.test) / q["labkit_s"] > bf_qps})
    small = data.gaussian(2000, 64, 10)
    def readable():
        HNSW(64, M=M, ef_construction=EFC, seed=SEED, backend="readable").add(small.train)
    def anchor():
        p = hnswlib.Index(space="l2", dim=64)
        p.init_index(max_elements=2000, M=M, ef_construction=EFC, random_seed=SEED)
        p.add_items(small.train, num_threads=1)
    rr = compare(readable, anchor, repeats=5, warmup=0)

    numba.set_num_threads(2)
    ds = sets[-1]
    idx, p = build_pair(ds)[0](), build_pair(ds)[1]()
    p.set_ef(100)
    p.set_num_threads(2)
    b2 = compare(lambda: idx.search(ds.test, k=K, ef=100), lambda: p.knn_query(ds.test, k=K, num_threads=2), repeats=5)

    print("# HNSW: labkit vs hnswlib 0.8.0\n")
    print(f"Machine: {machine()}. M={M}, ef_construction={EFC}, seed={SEED}, k={K}; A/B alternating, median of 5.\n")
    print("## Build (single thread, warm: later builds in one process)\n")
    print(markdown_table(build_rows, floatfmt=".3g"))
    print()
    print_cold(*cold_tables(sets, {row["dataset"]: row["ratio"] for row in build_rows}))
    print(f"\nReadable path (backend='readable'), gaussian 2000x64: {rr['labkit_s']:.2f} s "
          f"vs hnswlib {rr['anchor_s']:.3f} s = **{rr['ratio']:.0f}x**\n")
    print("## Graph agreement with a single-threaded hnswlib build\n")
    print(markdown_table(agree_rows, floatfmt=".4f"))
    print("\n## Queries (single thread, batched): recall@10, speed, distance computations\n")
    print(markdown_table(query_rows, floatfmt=".3g"))
    print(f"\n## Batched search on 2 threads ({ds.name}, ef=100): labkit prange vs hnswlib num_threads=2: "
          f"ratio {b2['ratio']:.2f} ({b2['labkit_s'] * 1e3:.1f} ms vs {b2['anchor_s'] * 1e3:.1f} ms)")
    if not SKIP_WIDGETS:
        numba.set_num_threads(1)
        print_widgets()


if __name__ == "__main__":
    main()
