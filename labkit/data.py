"""Offline datasets for the memory mechanisms: generators, loaders and exact ground truth.

Nothing here downloads. Each dataset is either bundled with a dependency (sklearn's digits),
generated from a published recipe (ann-benchmarks' `make_blobs` sets, Gaussian vectors), or a
file shipped in `datasets/` (listed with its origin and licence in `datasets/README.md`).

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
        for arg in ("train", "test"):
            a = getattr(self, arg)
            if not isinstance(a, np.ndarray) or a.ndim != 2 or a.dtype != np.float32:
                raise ValueError(f"{arg}: expected a 2-D float32 array, got "
                                 f"{getattr(a, 'shape', None)} {getattr(a, 'dtype', type(a).__name__)}")
            if not np.isfinite(a).all():
                raise ValueError(f"{arg}: contains NaN or inf")
        if self.train.shape[1] != self.test.shape[1]:
            raise ValueError(f"test: dim {self.test.shape[1]} differs from train dim {self.train.shape[1]}")
        if self.metric not in METRICS:
            raise ValueError(f"metric: expected one of {METRICS}, got {self.metric!r}")
        for arg, ref in (("labels", self.train), ("test_labels", self.test)):
            lab = getattr(self, arg)
            if lab is not None and (not isinstance(lab, np.ndarray) or lab.shape != (len(ref),)):
                raise ValueError(f"{arg}: expected shape ({len(ref)},), got {getattr(lab, 'shape', None)}")

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
    X, y = load_digits(return_X_y=True)
    if not 0 < test_size < len(X):
        raise ValueError(f"test_size: expected an integer in (0, {len(X)}), got {test_size!r}")
    Xtr, Xte, ytr, yte = train_test_split(X.astype(np.float32), y, test_size=test_size, random_state=seed,
                                          stratify=y)
    return Dataset("digits", Xtr, Xte, labels=ytr, test_labels=yte,
                   origin="sklearn.datasets.load_digits (UCI optdigits test set; BSD-3-Clause via sklearn)",
                   params={"test_size": test_size, "seed": seed})


def ann_blobs(n_samples: int, n_dims: int, centers: int, name: str | None = None) -> Dataset:
    """ann-benchmarks' synthetic recipe: `make_blobs(n_samples, n_dims, centers, random_state=1)`,
    then `train_test_split(X, test_size=0.1, random_state=1)` (ann_benchmarks/datasets.py)."""
    from sklearn.datasets import make_blobs
    from sklearn.model_selection import train_test_split
    for arg, v in (("n_samples", n_samples), ("n_dims", n_dims), ("centers", centers)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{arg}: expected a positive integer, got {v!r}")
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
    for arg, v in (("n", n), ("dim", dim), ("n_queries", n_queries)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{arg}: expected a positive integer, got {v!r}")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + n_queries, dim), dtype=np.float32)
    return Dataset(f"gaussian-{n}-{dim}", X[:n], X[n:], metric=metric, origin="numpy default_rng standard normal",
                   params={"n": n, "dim": dim, "n_queries": n_queries, "seed": seed})


def load_npz(path: str | os.PathLike, name: str | None = None) -> Dataset:
    """Load a dataset file (`.npz` with float32 `train`, `test`, optional `labels`, `test_labels`,
    and a `metric` string). Never unpickles: object arrays are refused."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no dataset file at {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as e:  # object arrays or a corrupt archive
        raise ValueError(f"path: {path} is not a valid dataset file ({e})") from None
    except Exception as e:  # zipfile.BadZipFile, EOFError on truncation
        raise ValueError(f"path: {path} is not a valid dataset file ({type(e).__name__}: {e})") from None
    missing = {"train", "test"} - arrays.keys()
    if missing:
        raise ValueError(f"path: {path} lacks arrays {sorted(missing)}")
    metric = str(arrays.pop("metric", np.array("euclidean")))
    return Dataset(name or path.stem, arrays["train"], arrays["test"], metric=metric,
                   labels=arrays.get("labels"), test_labels=arrays.get("test_labels"),
                   origin=f"file {path.name}")


def save_npz(ds: Dataset, path: str | os.PathLike) -> None:
    """Write `ds` atomically (temp file, then rename) in the format `load_npz` reads."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    arrays = {"train": ds.train, "test": ds.test, "metric": np.array(ds.metric)}
    if ds.labels is not None:
        arrays["labels"] = ds.labels
    if ds.test_labels is not None:
        arrays["test_labels"] = ds.test_labels
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


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
    if name not in _REGISTRY:
        raise ValueError(f"name: unknown dataset {name!r}; available: {', '.join(available())}")
    return _REGISTRY[name](**kwargs)
