"""API cases for labkit.data and labkit.exact_knn (see tests/api_cases/__init__.py)."""

import atexit
import shutil
import tempfile
from pathlib import Path

import numpy as np

from api_cases import Case

MODULES = ["labkit.data", "labkit.exact_knn"]
D = "labkit.data"

rng = np.random.default_rng(0)
TRAIN = rng.standard_normal((40, 4)).astype(np.float32)
TEST = rng.standard_normal((6, 4)).astype(np.float32)
LABELS = rng.integers(0, 3, 40)
TEST_LABELS = rng.integers(0, 3, 6)

_DIR = Path(tempfile.mkdtemp(prefix="labkit-api-data-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)


def _toy():
    from labkit.data import Dataset
    return Dataset("toy", TRAIN, TEST, labels=LABELS, test_labels=TEST_LABELS)


def _saved() -> str:
    from labkit.data import save_npz
    path = _DIR / "toy.npz"
    save_npz(_toy(), path)
    return str(path)


GT = dict(train=TRAIN, test=TEST, k=3, metric="euclidean", block=4, backend="fast")
GT_BAD = {"k": [0, 41], "block": [0], "train": [TRAIN[:, :0]]}
GT_OK = {"test": {"empty": "no queries -> (0, k) ids and distances"}}

CASES = [
    Case(D, "Dataset", dict(name="toy", train=TRAIN, test=TEST, metric="euclidean", labels=LABELS,
                            test_labels=TEST_LABELS, origin="generated", params={"seed": 0}),
         bad={"labels": [LABELS[:5]], "test": [TEST[:, :3]]},
         ok={"name": {"unknown value": "any string is a name"},
             "origin": {"unknown value": "any string is an origin"}}),
    Case(D, "Dataset.neighbors", dict(k=3), make=_toy, bad={"k": [0, 41]}),
    Case(D, "Dataset.summary", {}, make=_toy),
    Case(D, "digits", dict(test_size=200, seed=0), bad={"test_size": [0, 9, 1797], "seed": [-1, 2**32]}),
    Case(D, "ann_blobs", dict(n_samples=200, n_dims=3, centers=4, name="blobs"),
         bad={"n_samples": [0, 1, 10**10], "n_dims": [0], "centers": [0]},
         ok={"name": {"unknown value": "any string is a name"}}),
    Case(D, "random_xs_20", {}),
    Case(D, "random_s_100", {}),
    Case(D, "gaussian", dict(n=100, dim=8, n_queries=10, seed=0, metric="angular"),
         bad={"n": [0, 10**12], "dim": [0], "n_queries": [0], "seed": [-1]}),
    Case(D, "load_npz", dict(path=_saved(), name="again"),
         ok={"path": {"unknown value": "a missing file raises FileNotFoundError, as open() does"},
             "name": {"unknown value": "any string is a name"}}),
    Case(D, "save_npz", dict(ds=_toy(), path=str(_DIR / "out.npz")),
         ok={"path": {"unknown value": "any file name is a place to write"}}),
    Case(D, "available", {}),
    Case(D, "load", dict(name="gaussian", n=50, dim=4, n_queries=5), bad={"n": [0]}),
    Case(D, "ground_truth", GT, bad=GT_BAD, ok=GT_OK),
    Case("labkit.exact_knn", "ground_truth", GT, bad=GT_BAD, ok=GT_OK),
    Case("labkit.exact_knn", "ground_truth", dict(GT, metric="angular", train=TRAIN.astype(np.float64)), id="float64",
         ok=GT_OK),
]


# -- files that are not dataset files: each load is a ValueError naming path (labkit.npzfile) ---------------
def _corrupt_npz() -> list[str]:
    import io
    import struct
    import zipfile
    good = Path(_saved()).read_bytes()
    files = {"truncated.npz": good[: len(good) // 2], "text.npz": b"not a zip archive"}
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000, 4), }"
    header += b" " * (117 - len(header)) + b"\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:  # a member asking for 14.6 TiB, holding 16 bytes
        z.writestr("train.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + b"\0" * 16)
        z.writestr("test.npy", b"")
    files["huge_header.npz"] = buf.getvalue()
    paths = []
    for name, raw in files.items():
        (_DIR / name).write_bytes(raw)
        paths.append(str(_DIR / name))
    np.savez(_DIR / "numeric_metric.npz", train=TRAIN, test=TEST, metric=np.arange(3))
    np.savez(_DIR / "objects.npz", train=np.array([None], dtype=object), test=TEST)
    return paths + [str(_DIR / "numeric_metric.npz"), str(_DIR / "objects.npz"), str(_DIR)]


CASES += [
    Case(D, "load_npz", dict(path=_saved()), id="corrupt", bad={"path": _corrupt_npz()},
         ok={"path": {"unknown value": "a missing file raises FileNotFoundError, as open() does"}}),
    Case(D, "save_npz", dict(ds=_toy(), path=str(_DIR / "out2.npz")), id="directory",
         bad={"path": [str(_DIR), str(_DIR / "missing" / "out.npz")]},
         ok={"path": {"unknown value": "any file name is a place to write"}}),
]
