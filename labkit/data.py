"""Offline datasets for the memory mechanisms: generators, loaders and exact ground truth.

Nothing here downloads. Each dataset is either bundled with a dependency (sklearn's digits),
generated from a published recipe (ann-benchmarks' `make_blobs` sets, Gaussian vectors, reservoirpy's
chaotic time series `mackey_glass`, `narma`, `lorenz` from labkit.reservoir.tasks), or a file
shipped in `datasets/` (listed with its origin and licence in `datasets/README.md`).

    >>> ds = load("random-xs-20")
    >>> ds.train.shape, ds.test.shape
    ((9000, 20), (1000, 20))
    >>> gt = ds.neighbors(10)          # exact k-NN of each test vector, (nq, 10) int64
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from labkit.exact_knn import METRICS, ground_truth  # noqa: F401  (re-exported)
from labkit.reservoir.tasks import lorenz, mackey_glass, narma  # noqa: F401  (reservoirpy's time series, re-exported)
from labkit.validate import check_choice, check_instance, check_int, check_seed, check_str, describe, fail, type_fail

__all__ = ["Dataset", "digits", "ann_blobs", "random_xs_20", "random_s_100", "gaussian", "load_npz", "save_npz",
           "available", "load", "METRICS", "ground_truth", "mackey_glass", "narma", "lorenz"]

MAX_ELEMENTS = 2**28  # largest generated dataset, in float32 values (1 GiB)
MAX_FILE_BYTES = 4 << 30  # largest dataset file load_npz reads (its arrays, uncompressed)


def _check_size(names: str, rows: int, dim: int) -> None:
    if rows * dim > MAX_ELEMENTS:
        raise fail(names, f"at most {MAX_ELEMENTS} values (rows x dim)", f"{rows} x {dim}", described=True)


def _check_path(path) -> Path:
    return Path(check_instance("path", path, (str, os.PathLike), "a file path (str or os.PathLike)"))


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split of vectors, as ann-benchmarks lays it out.

    train: (n, dim) float32; test: (nq, dim) float32; labels/test_labels: optional (n,), (nq,).
    metric: "euclidean" | "angular" | "ip" — the distance the exact neighbours use.
    """

    name: str
    train: np.ndarray
    test: np.ndarray
    metric: str = "euclidean"
    labels: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    origin: str = ""
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        check_str("name", self.name)
        for arg in ("train", "test"):
            a = getattr(self, arg)
            if not isinstance(a, np.ndarray):
                raise type_fail(arg, "a 2-d float32 numpy array", a)
            if a.ndim != 2 or a.dtype != np.float32 or a.size == 0:
                raise fail(arg, "a non-empty 2-d float32 array", a)
            if not np.isfinite(a).all():
                raise fail(arg, "finite values", "NaN or inf", described=True)
        if self.train.shape[1] != self.test.shape[1]:
            raise fail("test", f"vectors of train's dim {self.train.shape[1]}", f"dim {self.test.shape[1]}",
                       described=True)
        check_choice("metric", self.metric, METRICS)
        for arg, ref in (("labels", self.train), ("test_labels", self.test)):
            lab = getattr(self, arg)
            if lab is not None and not isinstance(lab, np.ndarray):
                raise type_fail(arg, f"None or a ({len(ref)},) numpy array", lab)
            if lab is not None and lab.shape != (len(ref),):
                raise fail(arg, f"shape ({len(ref)},)", f"shape {lab.shape}", described=True)
        check_str("origin", self.origin)
        check_instance("params", self.params, dict)

    @property
    def dim(self) -> int:
        return int(self.train.shape[1])

    def neighbors(self, k: int = 10) -> np.ndarray:
        """Exact k nearest train ids of every test vector, (nq, k) int64 (brute force)."""
        return ground_truth(self.train, self.test, k, metric=self.metric)[0]

    def summary(self) -> dict:
        """Plain-data description (what inspectors and records show)."""
        return {"name": self.name, "n_train": len(self.train), "n_test": len(self.test),
                "dim": self.dim, "metric": self.metric,
                "n_classes": None if self.labels is None else int(len(np.unique(self.labels))),
                "origin": self.origin, **{f"param.{k}": v for k, v in self.params.items()}}


def digits(test_size: int = 200, seed: int = 0) -> Dataset:
    """sklearn's bundled handwritten digits: 1797 8x8 images as 64-d vectors, pixel values 0..16."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    test_size = check_int("test_size", test_size, low=10, high=1787)  # stratified: >= 1 of each digit on each side
    seed = check_int("seed", seed, low=0, high=2**32 - 1)  # sklearn's random_state range
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X.astype(np.float32), y, test_size=test_size, random_state=seed,
                                          stratify=y)
    return Dataset("digits", Xtr, Xte, labels=ytr, test_labels=yte,
                   origin="sklearn.datasets.load_digits (UCI optdigits test set; BSD-3-Clause via sklearn)",
                   params={"test_size": test_size, "seed": seed})


def ann_blobs(n_samples: int, n_dims: int, centers: int, name: str | None = None) -> Dataset:
    """ann-benchmarks' synthetic recipe: `make_blobs(n_samples, n_dims, centers, random_state=1)`,
    then `train_test_split(X, test_size=0.1, random_state=1)` (erikbern/ann-benchmarks
    ann_benchmarks/datasets.py at commit 8affc8a: `random` and its `train_test_split`)."""
    from sklearn.datasets import make_blobs
    from sklearn.model_selection import train_test_split
    n_samples = check_int("n_samples", n_samples, low=2)  # a 10% test split needs two points
    n_dims, centers = check_int("n_dims", n_dims, low=1), check_int("centers", centers, low=1, high=n_samples)
    _check_size("n_samples, n_dims", n_samples, n_dims)
    if name is not None:
        check_str("name", name)
    X, y = make_blobs(n_samples=n_samples, n_features=n_dims, centers=centers, random_state=1)
    Xtr, Xte, ytr, yte = train_test_split(X.astype(np.float32), y, test_size=0.1, random_state=1)
    return Dataset(name or f"blobs-{n_samples}-{n_dims}-{centers}", Xtr, Xte, labels=ytr, test_labels=yte,
                   origin="ann-benchmarks recipe: sklearn make_blobs, random_state=1, 10% test split",
                   params={"n_samples": n_samples, "n_dims": n_dims, "centers": centers})



def random_xs_20() -> Dataset:
    """ann-benchmarks `random-xs-20-euclidean`: 10,000 points in 20-d around 100 centres."""
    return ann_blobs(10_000, 20, 100, name="random-xs-20")


def random_s_100() -> Dataset:
    """ann-benchmarks `random-s-100-euclidean`: 100,000 points in 100-d around 1,000 centres."""
    return ann_blobs(100_000, 100, 1_000, name="random-s-100")


def gaussian(n: int = 20_000, dim: int = 64, n_queries: int = 1_000, seed: int = 0,
             metric: str = "euclidean") -> Dataset:
    """i.i.d. standard normal vectors (high intrinsic dimension: the hard case for graph indexes)."""
    n, dim, n_queries = check_int("n", n, low=1), check_int("dim", dim, low=1), check_int("n_queries", n_queries, low=1)
    _check_size("n, n_queries, dim", n + n_queries, dim)
    check_seed("seed", seed)
    check_choice("metric", metric, METRICS)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + n_queries, dim), dtype=np.float32)
    return Dataset(f"gaussian-{n}-{dim}", X[:n], X[n:], metric=metric, origin="numpy default_rng standard normal",
                   params={"n": n, "dim": dim, "n_queries": n_queries, "seed": seed})


def load_npz(path: str | os.PathLike, name: str | None = None) -> Dataset:
    """Load a dataset file (`.npz` with float32 `train`, `test`, optional `labels`, `test_labels`,
    and a `metric` string). Never unpickles: object arrays are refused; no array is allocated
    before its size is checked against the file (`labkit.npzfile.read_npz`). A malformed file
    raises ValueError naming the path."""
    from labkit.npzfile import read_npz
    path = _check_path(path)
    if name is not None:
        check_str("name", name)
    arrays = read_npz(path, MAX_FILE_BYTES, "a valid dataset file")
    missing = {"train", "test"} - arrays.keys()
    if missing:
        raise ValueError(f"path: {path} lacks arrays {sorted(missing)}")
    metric = arrays.pop("metric", np.array("euclidean"))
    if metric.dtype.kind != "U" or metric.ndim:
        raise fail("path", "a dataset file whose metric is a string", f"{path}: {describe(metric)}", described=True)
    for key in ("train", "test"):
        if arrays[key].ndim != 2 or arrays[key].dtype != np.float32 or not arrays[key].size:
            raise fail("path", f"a dataset file whose {key} is a non-empty 2-d float32 array",
                       f"{path.name}: {key} of shape {arrays[key].shape} and dtype {arrays[key].dtype}", described=True)
    try:
        return Dataset(name or path.stem, arrays["train"], arrays["test"], metric=str(metric),
                       labels=arrays.get("labels"), test_labels=arrays.get("test_labels"), origin=f"file {path.name}")
    except (TypeError, ValueError) as e:
        raise ValueError(f"path: {str(path)!r} is not a valid dataset file ({e})") from None


def save_npz(ds: Dataset, path: str | os.PathLike) -> None:
    """Write `ds` atomically (`labkit.atomic.atomic_write`: a temporary of this writer's own,
    fsync'ed, renamed over `path`) in the format `load_npz` reads."""
    from labkit.atomic import atomic_write
    check_instance("ds", ds, Dataset)
    path = _check_path(path)
    arrays = {"train": ds.train, "test": ds.test, "metric": np.array(ds.metric)}
    if ds.labels is not None:
        arrays["labels"] = ds.labels
    if ds.test_labels is not None:
        arrays["test_labels"] = ds.test_labels
    with atomic_write(path) as f:
        np.savez(f, **arrays)


_REGISTRY: dict[str, Callable[..., Dataset]] = {
    "digits": digits,
    "random-xs-20": random_xs_20,
    "random-s-100": random_s_100,
    "gaussian": gaussian,
}


def available() -> list[str]:
    """Names `load` accepts."""
    return sorted(_REGISTRY)


def load(name: str, **kwargs) -> Dataset:
    """Load a dataset by name (see `available()`); keyword arguments go to its generator."""
    if check_str("name", name) not in _REGISTRY:
        raise fail("name", f"one of the datasets {available()}", name)
    return _REGISTRY[name](**kwargs)
