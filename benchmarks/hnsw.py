"""HNSW: labkit (numba path, and the readable path) vs hnswlib 0.8.0, side by side.

Single thread unless stated (numba.set_num_threads(1), hnswlib num_threads=1), same data, M,
ef_construction and seed; A/B alternating, median of 5 (harness.compare). Prints markdown tables:
build ratio, query ratio and recall@10 per ef, distance computations per query vs brute force,
graph agreement with hnswlib, and the batched two-thread comparison.
Run: .venv/bin/python benchmarks/hnsw.py [--quick]
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import hnswlib  # noqa: E402
import numba  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from harness import compare, machine  # noqa: E402

from labkit import data  # noqa: E402
from labkit.hnsw import HNSW  # noqa: E402
from labkit.tables import markdown_table  # noqa: E402

M, EFC, SEED, K = 16, 200, 100, 10
QUICK = "--quick" in sys.argv


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


def main() -> None:
    numba.set_num_threads(1)
    sets = [data.digits(), data.random_xs_20(), data.gaussian(5000 if QUICK else 20000, 64, 1000)]
    HNSW(4).add(np.eye(4))  # compile (or load the numba cache) outside the timings
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
        HNSW(64, M=M, ef_construction=EFC, seed=SEED, backend="numpy").add(small.train)
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
    print("## Build (single thread)\n")
    print(markdown_table(build_rows, floatfmt=".3g"))
    print(f"\nReadable (numpy) path, gaussian 2000x64: {rr['labkit_s']:.2f} s vs hnswlib {rr['anchor_s']:.3f} s "
          f"= **{rr['ratio']:.0f}x**\n")
    print("## Graph agreement with a single-threaded hnswlib build\n")
    print(markdown_table(agree_rows, floatfmt=".4f"))
    print("\n## Queries (single thread, batched): recall@10, speed, distance computations\n")
    print(markdown_table(query_rows, floatfmt=".3g"))
    print(f"\n## Batched search on 2 threads ({ds.name}, ef=100): labkit prange vs hnswlib num_threads=2: "
          f"ratio {b2['ratio']:.2f} ({b2['labkit_s'] * 1e3:.1f} ms vs {b2['anchor_s'] * 1e3:.1f} ms)")


if __name__ == "__main__":
    main()
