"""Exact k-NN ground truth: labkit.data.ground_truth vs scikit-learn's brute-force NearestNeighbors.

Every approximate memory in labkit is graded against this exact answer, so it must be right
(identical distances) and not slow. Prints a markdown table; `make bench` saves it.
Run: .venv/bin/python benchmarks/knn.py
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")  # single thread for both sides
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from sklearn.neighbors import NearestNeighbors  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from harness import compare, machine  # noqa: E402

from labkit import data  # noqa: E402
from labkit.tables import markdown_table  # noqa: E402

K = 10


def main() -> None:
    rows = []
    for ds in (data.digits(), data.random_xs_20(), data.gaussian(20_000, 64, 1_000)):
        ours = lambda: data.ground_truth(ds.train, ds.test, K)  # noqa: B023
        nn = NearestNeighbors(n_neighbors=K, algorithm="brute", n_jobs=1)
        anchor = lambda: nn.fit(ds.train).kneighbors(ds.test)  # noqa: B023
        ids, dist = ours()
        sk_d, _ = anchor()
        rel = float(np.max(np.abs(dist - sk_d.astype(np.float64) ** 2) / np.maximum(dist, 1e-9)))
        r = compare(ours, anchor, repeats=5)
        rows.append({"dataset": ds.name, "n x dim": f"{len(ds.train)} x {ds.dim}", "queries": len(ds.test),
                     "labkit s": r["labkit_s"], "sklearn s": r["anchor_s"],
                     "ratio labkit/sklearn": r["ratio"], "max rel. dist. diff": rel})
    print("# Exact k-NN (k=10): labkit.data.ground_truth vs sklearn NearestNeighbors(brute)\n")
    print(f"Machine: {machine()}. Single thread, A/B alternating, median of 5.\n")
    print(markdown_table(rows, floatfmt=".3g"))
    print("\nsklearn computes in float32 (the input dtype); labkit in float64, so the difference column "
          "is sklearn's rounding.")


if __name__ == "__main__":
    main()
