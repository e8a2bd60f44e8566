"""`HNSW`: the vector memory, hnswlib 0.8.0's algorithm, readable and open to inspection.

    index = HNSW(dim, space="l2", M=16, ef_construction=200, seed=100)
    index.add(X)                                   # X (n, dim); ids default 0..n-1
    labels, distances = index.search(Q, k=10, ef=50)
    labels, distances, stats = index.search(Q, k=10, ef=50, return_stats=True)
    index.layers()                                 # per layer: nodes and CSR adjacency
    index.snapshot()                               # everything, as plain data (HNSWSnapshot)
    index.save("index.bin"); HNSW.load("index.bin", space="l2")   # hnswlib's own file format

Same seed, data and insertion order as a single-threaded hnswlib build give the same levels
and, up to floating-point near-ties, the same neighbour lists (hnswlib computes distances in
float32, labkit in float64). Source: nmslib/hnswlib tag v0.8.0 (commit
3f3429661187e4c24a490a0f148fc6bc89042b3d), `hnswlib/hnswalg.h` and `python_bindings/bindings.cpp`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from labkit.base import Estimator
from labkit.hnsw import construction
from labkit.hnsw.integrity import MAX_DIM, MAX_EF_CONSTRUCTION
from labkit.hnsw.levels import LevelGenerator, default_mult
from labkit.hnsw.search import BACKENDS, SPACES, as_vectors, search_graph
from labkit.validate import check_array, check_choice, check_instance, check_int, check_seed, fail, is_generator

if TYPE_CHECKING:   # the file format is imported where a file is read or written, not on a build's path
    from labkit.hnsw.format import HNSWFile


def normalize_like_hnswlib(X: np.ndarray) -> np.ndarray:
    """hnswlib's `normalize_vector` (python_bindings/bindings.cpp L241 at v0.8.0): float32 running
    sum of squares, x * 1 / (sqrt(s) + 1e-30) (equal to hnswlib's compiled result but for an ulp on
    a few vectors)."""
    s = np.cumsum(X * X, axis=1, dtype=np.float32)[:, -1]
    inv = np.float32(1.0) / (np.sqrt(s) + np.float32(1e-30))
    return (X * inv[:, None]).astype(np.float32)


@dataclass(frozen=True)
class LayerLinks:
    """One layer of the graph: `nodes` (internal ids on the layer), their `labels`, and the
    adjacency as CSR over `nodes` order (`indices` are internal ids)."""

    level: int
    nodes: np.ndarray
    labels: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray


@dataclass(frozen=True)
class HNSWSnapshot:
    """An HNSW memory as plain data (copies; later `add`s do not change it). Internal ids are
    insertion order: vectors (n, dim) float32 as stored (normalised for "cosine"), labels (n,)
    int64, levels (n,) int64, deleted (n,) bool, `layers` per level 0..max_level, entry_point
    (-1 when empty)."""

    dim: int
    space: str
    M: int
    maxM: int
    maxM0: int
    ef_construction: int
    mult: float
    entry_point: int
    max_level: int
    vectors: np.ndarray
    labels: np.ndarray
    levels: np.ndarray
    deleted: np.ndarray
    layers: tuple


class HNSW(Estimator):
    """Hierarchical navigable small world graph (Malkov & Yashunin, TPAMI 2018) as hnswlib builds it.

    Hyper-parameters carry hnswlib's names: `M` links per node (2M on layer 0), `ef_construction`
    (raised to M as hnswlib does), `seed` (hnswlib's `random_seed`); `space` is "l2" (squared
    L2), "ip" (1 - dot) or "cosine" (vectors normalised, then ip). `backend="fast"` (default) runs
    the numba kernels (kernels.py), `"readable"` the plain Python of construction.py and
    search_readable.py; both build the same graph. `select="simple"` keeps the M closest
    candidates instead of the neighbour heuristic (the paper's Alg. 3 vs Alg. 4).
    """

    _param_aliases = {"max_elements": "_max_elements"}

    def __init__(self, dim: int, space: str = "l2", M: int = 16, ef_construction: int = 200, seed: int = 100,
                 max_elements: int | None = None, backend: str = "fast", select: str = "heuristic"):
        self.dim = check_int("dim", dim, low=1, high=MAX_DIM)
        self.space = check_choice("space", space, SPACES)
        self.M = check_int("M", M, low=2, high=10_000)
        ef_construction = check_int("ef_construction", ef_construction, low=1, high=MAX_EF_CONSTRUCTION)
        self.seed = check_seed("seed", seed)
        if is_generator(self.seed):
            raise fail("seed", "a non-negative integer (hnswlib's random_seed)", seed)
        self._max_elements = None if max_elements is None else check_int("max_elements", max_elements, low=0)
        self.backend = check_choice("backend", backend, BACKENDS)
        self.select = check_choice("select", select, ("heuristic", "simple"))
        self.ef_construction = max(ef_construction, self.M)   # hnswlib: max(ef_construction, M)
        self.maxM, self.maxM0, self.mult = self.M, 2 * self.M, default_mult(self.M)
        self._levelgen = LevelGenerator(self.seed)
        self._n = 0
        self._state = np.array([-1, 0], np.int64)                 # [enterpoint, maxlevel]
        self._alloc(self._max_elements or 0)

    # -- storage --------------------------------------------------------------------------------
    def _alloc(self, cap: int, blocks: int = 0) -> None:
        self._X = np.zeros((cap, self.dim), np.float32)
        self._labels = np.zeros(cap, np.int64)
        self._levels = np.zeros(cap, np.int64)
        self._deleted = np.zeros(cap, np.bool_)
        self._links0 = np.zeros((cap, self.maxM0), np.int64)
        self._count0 = np.zeros(cap, np.int64)
        self._block_start = np.zeros(cap, np.int64)
        self._links_up = np.zeros((max(blocks, 1), self.maxM), np.int64)
        self._count_up = np.zeros(max(blocks, 1), np.int64)
        self._nblocks = 0

    def _grow(self, n_new: int, new_blocks: int) -> None:
        cap, bcap = len(self._labels), len(self._count_up)
        need, bneed = self._n + n_new, self._nblocks + new_blocks
        if need > cap:
            new = max(need, 2 * cap)
            for name in ("_X", "_labels", "_levels", "_deleted", "_links0", "_count0", "_block_start"):
                old = getattr(self, name)
                arr = np.zeros((new,) + old.shape[1:], old.dtype)
                arr[: self._n] = old[: self._n]
                setattr(self, name, arr)
        if bneed > bcap:
            new = max(bneed, 2 * bcap)
            for name in ("_links_up", "_count_up"):
                old = getattr(self, name)
                arr = np.zeros((new,) + old.shape[1:], old.dtype)
                arr[: self._nblocks] = old[: self._nblocks]
                setattr(self, name, arr)

    def __len__(self) -> int:
        return self._n

    @property
    def max_elements(self) -> int:
        return len(self._labels)

    # -- data in ----------------------------------------------------------------------------------
    def add(self, X, ids=None) -> None:
        """Insert the rows of X (n, dim) with labels `ids` (default: the next integers), in order."""
        X = as_vectors(X, self.dim, "X")
        n = len(X)
        if ids is None:
            ids = np.arange(self._n, self._n + n, dtype=np.int64)
        else:
            ids = check_array("ids", ids, ndim=1, kind="integer").astype(np.int64)
            if ids.shape != (n,):
                raise fail("ids", f"shape ({n},), one label per row of X", f"shape {ids.shape}", described=True)
            if (ids < 0).any():
                raise fail("ids", "non-negative integers", int(ids.min()))
        ordered = np.sort(ids)   # not np.unique: its first call imports numpy.ma (6 ms of a fresh process's build)
        if (ordered[1:] == ordered[:-1]).any() or np.isin(ids, self._labels[: self._n]).any():
            raise fail("ids", "ids not repeated and not already in the index", "duplicate ids", described=True)
        if n == 0:
            return
        if self.space == "cosine":
            X = normalize_like_hnswlib(X)
        levels = self._levelgen.levels(n, self.mult).astype(np.int64)
        self._grow(n, int(levels.sum()))
        s, e = self._n, self._n + n
        self._X[s:e], self._labels[s:e], self._levels[s:e] = X, ids, levels
        self._block_start[s:e] = self._nblocks + np.concatenate([[0], np.cumsum(levels)[:-1]])
        self._nblocks += int(levels.sum())
        if self.backend == "fast":
            from labkit.hnsw.aot import insert_kernel
            insert_range = insert_kernel()[0]   # compiled ahead of time when built (aot.py), else numba's JIT
        else:
            insert_range = construction.insert_range
        ints, floats = construction.pool_sizes(len(self._X), self.ef_construction, self.maxM0)
        insert_range(SPACES[self.space], self._X, s, e, self._levels, self.M, self.maxM, self.maxM0,
                     self.ef_construction, self._links0, self._count0, self._links_up, self._count_up,
                     self._block_start, self._deleted, self._state, self.select == "simple",
                     np.zeros(ints, np.int64), np.zeros(floats))
        self._n = e

    def mark_deleted(self, label: int) -> None:
        """Keep `label` out of results; it stays in the graph and is still traversed (hnswlib)."""
        label = check_int("label", label)
        hits = np.flatnonzero(self._labels[: self._n] == label)
        if len(hits) == 0:
            raise fail("label", "a label in the index", label)
        self._deleted[hits[0]] = True

    # -- the graph as plain data -----------------------------------------------------------------
    def graph(self) -> HNSWFile:
        """The graph as hnswlib lays it out (views, internal ids = insertion order)."""
        from labkit.hnsw.format import HNSWFile
        n, b = self._n, self._nblocks
        return HNSWFile._trusted(M=self.M, maxM=self.maxM, maxM0=self.maxM0, mult=self.mult,
                        ef_construction=self.ef_construction, max_elements=self.max_elements,
                        maxlevel=int(self._state[1]), enterpoint=int(max(self._state[0], 0)),
                        vectors=self._X[:n], labels=self._labels[:n], levels=self._levels[:n].astype(np.int32),
                        flags0=self._deleted[:n].astype(np.uint8), spare0=np.zeros(n, np.uint8),
                        count0=self._count0[:n], links0=self._links0[:n], block_start=self._block_start[:n],
                        count_up=self._count_up[:b], spare_up=np.zeros(b, np.uint16), links_up=self._links_up[:b])

    def layers(self) -> list[dict]:
        """Per layer: {"level", "nodes" (internal ids), "labels", "indptr", "indices"} (CSR)."""
        out = self.graph().layers() if self._n else []
        for layer in out:
            layer["labels"] = self._labels[layer["nodes"]]
        return out

    def snapshot(self) -> HNSWSnapshot:
        """The whole memory as plain data (copies): vectors, labels, levels, deleted mask, each
        layer's CSR links, the entry point."""
        n = self._n
        layers = tuple(LayerLinks(level=int(L["level"]), nodes=L["nodes"], labels=L["labels"].copy(),
                                  indptr=L["indptr"], indices=L["indices"]) for L in self.layers())
        return HNSWSnapshot(dim=self.dim, space=self.space, M=self.M, maxM=self.maxM, maxM0=self.maxM0,
                            ef_construction=self.ef_construction, mult=self.mult,
                            entry_point=int(self._state[0]), max_level=int(self._state[1]),
                            vectors=self._X[:n].copy(), labels=self._labels[:n].copy(),
                            levels=self._levels[:n].copy(), deleted=self._deleted[:n].copy(), layers=layers)

    @property
    def nbytes(self) -> int:
        """Bytes of the index by hnswlib's formula (what `save` writes)."""
        return self.graph().nbytes

    # -- search -----------------------------------------------------------------------------------
    def search(self, Q, k: int = 10, ef: int | None = None, filter=None, return_stats: bool = False):
        """k nearest labels of each row of Q (nq, dim): labels (nq, k) int64, distances (nq, k)
        float32; ef = max(ef, k) (default 10, as hnswlib); `filter(label) -> bool` is applied
        during traversal; deleted labels are traversed but not returned."""
        if self._n == 0:
            raise fail("k", "an index with at least k elements", "an empty index", described=True)
        return search_graph(self.graph(), Q, k=k, ef=ef, space=self.space, filter=filter,
                            return_stats=return_stats, backend=self.backend)

    # -- files --------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the index in hnswlib's `save_index` format, atomically (`labkit.atomic`): a reader
        of `path` sees the old file or the new one, and concurrent savers never share a temporary."""
        check_instance("path", path, (str, os.PathLike), "a file path (str or os.PathLike)")
        from labkit.hnsw.format import write_index
        g = self.graph()
        g.max_elements = max(g.max_elements, self._file_max_elements)  # as the loaded file declared it
        write_index(g, path)

    _file_max_elements = 0

    @classmethod
    def load(cls, path: str | os.PathLike, space: str = "l2", dim: int | None = None,
             backend: str = "fast") -> "HNSW":
        """Read an index written by hnswlib or by `save`. The file stores neither the space nor
        the seed: pass `space`; later additions draw levels from a default-seeded generator, as
        hnswlib does after `load_index`. Every field and the graph's invariants are checked
        (`read_index`): a corrupt file raises ValueError naming the path. Storage is allocated for
        the elements the file holds (it grows on `add`), not for the max_elements it declares."""
        check_choice("space", space, SPACES)
        check_choice("backend", backend, BACKENDS)
        from labkit.hnsw.format import read_index
        f = read_index(path, dim=dim)
        try:
            index = cls(f.dim, space=space, M=f.M, ef_construction=f.ef_construction, seed=1, backend=backend)
        except (TypeError, ValueError) as e:
            raise ValueError(f"path: expected an index labkit can extend, got {str(path)!r} with {e}") from None
        index.maxM, index.maxM0, index.mult = f.maxM, f.maxM0, f.mult
        n, b = f.n, len(f.count_up)
        index._alloc(n, b)
        index._file_max_elements = f.max_elements
        index._X[:n], index._labels[:n], index._levels[:n] = f.vectors, f.labels.astype(np.int64), f.levels
        index._deleted[:n] = f.deleted
        index._links0[:n], index._count0[:n] = f.links0, f.count0
        index._block_start[:n] = f.block_start
        index._links_up[:b], index._count_up[:b] = f.links_up, f.count_up
        index._n, index._nblocks = n, b
        index._state[:] = (f.enterpoint if n else -1, f.maxlevel if n else 0)
        return index
