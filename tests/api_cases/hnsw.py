"""API cases for labkit.hnsw (see tests/api_cases/__init__.py)."""

import numpy as np

from api_cases import Case

MODULES = ["labkit.hnsw"]

X = np.random.default_rng(0).normal(size=(60, 8)).astype(np.float32)


def _index():
    from labkit.hnsw import HNSW
    idx = HNSW(dim=8, M=8, ef_construction=40, seed=3)
    idx.add(X)
    return idx


CASES = [
    Case("labkit.hnsw", "HNSW", dict(dim=8, M=8, ef_construction=40, seed=3, space="l2"),
         then=lambda idx: (idx.add(X), idx)[1], memory=True, bad={"M": [1, 0], "dim": [0]}),
    Case("labkit.hnsw", "HNSW.search", dict(q=X[:5], k=3, ef=20), make=_index, bad={"k": [0]}),
]
