"""API cases for labkit.hnsw (see tests/api_cases/__init__.py)."""

import atexit
import shutil
import tempfile
from pathlib import Path

import numpy as np

from api_cases import Case

MODULES = ["labkit.hnsw"]

X = np.random.default_rng(0).normal(size=(60, 8)).astype(np.float32)
_DIR = Path(tempfile.mkdtemp(prefix="labkit-api-hnsw-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)


def _empty(backend="fast"):
    from labkit.hnsw import HNSW
    return HNSW(dim=8, M=8, ef_construction=40, seed=3, backend=backend)


def _index():
    idx = _empty()
    idx.add(X)
    return idx


def _file() -> Path:
    """An index file written by labkit (the same bytes hnswlib writes; tests/test_hnsw_index.py)."""
    path = _DIR / "index.bin"
    if not path.exists():
        _index().save(path)
    return path


def _graph():
    return _index().graph()


def _graph_fields() -> dict:
    import dataclasses
    g = _graph()
    return {f.name: getattr(g, f.name) for f in dataclasses.fields(g)}


G = _graph_fields()

CASES = [
    Case("labkit.hnsw", "HNSW", dict(dim=8, M=8, ef_construction=40, seed=3, space="l2", backend="fast",
                                     select="heuristic"),
         then=lambda idx: (idx.add(X), idx)[1], memory=True,
         bad={"M": [1, 0], "dim": [0, -1], "ef_construction": [0], "seed": [-1], "max_elements": [-1]}),
    Case("labkit.hnsw", "HNSW.add", dict(X=X), make=_empty,
         ok={"X": {"empty": "adding no vectors is a no-op (n = 0 rows, ids default to none)"}},
         bad={"X": [X * np.float32(np.inf), X.astype(np.float64) * 1e39, X[:, :5]]}),
    Case("labkit.hnsw", "HNSW.add", dict(X=X, ids=np.arange(60) + 100), make=_empty, id="ids",
         bad={"ids": [np.arange(60) - 1, np.zeros(60, np.int64), np.arange(59), np.arange(60) + 0.5]}),
    Case("labkit.hnsw", "HNSW.search", dict(Q=X[:5], k=3, ef=20, return_stats=False), make=_index,
         ok={"Q": {"empty": "no queries -> (0, k) results, as hnswlib's knn_query"}},
         bad={"k": [0, -1, 61], "ef": [0, -5], "Q": [X[:5, :7], X[:5] * np.float32(np.nan),
                                                    X[:5].astype(np.float64) * 1e39]}),
    Case("labkit.hnsw", "HNSW.mark_deleted", dict(label=3), make=_index, bad={"label": [-1, 60, 10**6]}),
    Case("labkit.hnsw", "HNSW.snapshot", {}, make=_index),
    Case("labkit.hnsw", "HNSW.save", dict(path=_DIR / "saved.bin"), make=_index),
    Case("labkit.hnsw", "HNSW.load", dict(path=_file(), space="l2", dim=8, backend="fast"), make=_empty,
         bad={"dim": [0, 9]}),  # a missing file raises FileNotFoundError (tests/test_hnsw_format.py)
    Case("labkit.hnsw", "HNSWFile", dict(G),
         bad={"enterpoint": [10**6], "maxlevel": [G["maxlevel"] + 1], "max_elements": [10],
              "links0": [np.full_like(G["links0"], 10**6)], "count0": [np.full_like(G["count0"], 10**4)],
              "mult": [0.0, -1.0]}),
    Case("labkit.hnsw", "read_index", dict(path=_file(), dim=8), bad={"dim": [0, 9]}),
    Case("labkit.hnsw", "write_index", dict(f=_graph(), path=_DIR / "written.bin")),
    Case("labkit.hnsw", "LevelGenerator", dict(seed=100), then=lambda g: g.levels(200, 1 / np.log(16)),
         bad={"seed": [-1]}),
    Case("labkit.hnsw", "LevelGenerator.levels", dict(n=50, mult=0.36), make=lambda: _level_generator(),
         bad={"n": [-1], "mult": [0.0, -0.5]}),
    Case("labkit.hnsw", "default_mult", dict(M=16), bad={"M": [1, 0, -3]}),
]


def _level_generator():
    from labkit.hnsw import LevelGenerator
    return LevelGenerator(7)


# -- corrupt index files: each a ValueError naming path (labkit/hnsw/format.py read_index) ------------------
def _corrupt_files() -> list[Path]:
    import struct

    from labkit.hnsw.format import HNSWFile, write_index
    good = _file().read_bytes()
    out = {"truncated.bin": good[:-10], "short.bin": good[:50], "longer.bin": good + b"\0" * 4}
    for name, off, fmt, value in [("count.bin", 16, "<Q", 10**12), ("maxM.bin", 56, "<Q", 2**40),
                                  ("offset.bin", 32, "<Q", 2**62), ("mult.bin", 80, "<d", float("nan"))]:
        raw = bytearray(good)
        struct.pack_into(fmt, raw, off, value)
        out[name] = bytes(raw)
    paths = []
    for name, raw in out.items():
        (_DIR / name).write_bytes(raw)
        paths.append(_DIR / name)
    g = dict(G)  # a level-1 link to a node without level 1: the numba search would read past its lists
    links_up = g["links_up"].copy()
    links_up[0, 0] = int(np.flatnonzero(g["levels"] == 0)[-1])
    write_index(HNSWFile._trusted(**{**g, "links_up": links_up}), _DIR / "level.bin")
    return paths + [_DIR / "level.bin", _DIR]


CORRUPT = _corrupt_files()
CASES += [
    Case("labkit.hnsw", "read_index", dict(path=_file()), id="corrupt", bad={"path": CORRUPT}),
    Case("labkit.hnsw", "HNSW.load", dict(path=_file()), make=_empty, id="corrupt", bad={"path": CORRUPT}),
    Case("labkit.hnsw", "HNSW.save", dict(path=_DIR / "saved2.bin"), make=_index, id="directory",
         bad={"path": [_DIR, _DIR / "missing" / "x.bin"]}),
]
