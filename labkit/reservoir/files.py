"""Saving and loading a trained ESN without pickle (reservoirpy issues #21, #22, #137, #151, #159, #200).

The file is a plain `.npz` (numpy arrays only, read with allow_pickle=False): a `format` tag, the
hyper-parameters as one JSON string, the weights (W as CSR triplets), the readout and the state.
`load_esn` checks every field's presence, dtype and shape against the hyper-parameters before
building anything, so a corrupt or foreign file raises a ValueError naming the field.
"""

from __future__ import annotations

import json
import os

import numpy as np
import scipy.sparse as sp

from labkit.atomic import atomic_write

FORMAT = "labkit.reservoir.ESN/1"
MAX_FILE_BYTES = 4 << 30


def save_esn(esn, path) -> None:
    if esn.W_ is None:
        raise ValueError("esn: nothing to save before the first fit/run (the weights are not drawn yet)")
    from labkit.reservoir.esn import ESN
    # an ESN subclass (EIESN) is saved as the plain ESN it runs as: its W_, Win_ and readout
    params = {k: v for k, v in esn.get_params().items() if k in ESN._param_names() and k not in ("W", "Win", "bias")}
    arrays = {"format": np.array(FORMAT), "params": np.array(json.dumps(params)),
              "W_indptr": esn.W_.indptr.astype(np.int64), "W_indices": esn.W_.indices.astype(np.int64),
              "W_data": esn.W_.data.astype(np.float64), "Win": esn.Win_,
              "bias": esn.bias_, "state": esn.state_}
    if esn.readout_ is not None:
        arrays.update(readout=esn.readout_, intercept=esn.intercept_)
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def _field(z, name, path, dtype, shape=None):
    if name not in z:
        raise ValueError(f"path: {path!r} is not a labkit ESN file (no {name!r} field)")
    a = z[name]
    if a.dtype.kind != np.dtype(dtype).kind:
        raise ValueError(f"path: {path!r} field {name!r}: expected dtype {np.dtype(dtype)}, got {a.dtype}")
    if shape is not None and (a.ndim != len(shape)
                              or any(s is not None and s != t for s, t in zip(shape, a.shape, strict=True))):
        raise ValueError(f"path: {path!r} field {name!r}: expected shape {shape}, got {a.shape}")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise ValueError(f"path: {path!r} field {name!r}: expected finite values, got NaN or inf")
    return a


def load_esn(path):
    from labkit.npzfile import read_npz
    from labkit.reservoir.esn import ESN
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    if not os.path.isfile(path):
        raise ValueError(f"path: cannot read {str(path)!r} (no such file)")
    # no member's array exists before its header's size is checked against its bytes (labkit.npzfile)
    z = read_npz(path, MAX_FILE_BYTES, "a labkit ESN file (.npz)")
    fmt = _field(z, "format", path, "U", ())
    if str(fmt) != FORMAT:
        raise ValueError(f"path: {str(path)!r}: expected format {FORMAT!r}, got {str(fmt)!r}")
    try:
        params = json.loads(str(_field(z, "params", path, "U", ())))
    except (json.JSONDecodeError, RecursionError):
        params = None
    if not isinstance(params, dict):
        raise ValueError(f"path: {str(path)!r} field 'params' is not a JSON object")
    try:
        esn = ESN(**params)  # validates every hyper-parameter
    except (TypeError, ValueError) as e:
        raise ValueError(f"path: {str(path)!r} field 'params' does not fit ESN ({e})") from None
    n = esn.units
    indptr = _field(z, "W_indptr", path, np.int64, (n + 1,))
    nnz = int(indptr[-1]) if len(indptr) else 0
    if indptr[0] != 0 or np.any(np.diff(indptr) < 0) or nnz > n * n:
        raise ValueError(f"path: {str(path)!r} field 'W_indptr' is not a valid CSR row pointer")
    indices = _field(z, "W_indices", path, np.int64, (nnz,))
    if nnz and (indices.min() < 0 or indices.max() >= n):
        raise ValueError(f"path: {str(path)!r} field 'W_indices' points outside the {n} units")
    data = _field(z, "W_data", path, np.float64, (nnz,))
    Win = _field(z, "Win", path, np.float64, (n, None))
    esn.W_ = sp.csr_matrix((data, indices, indptr), shape=(n, n))
    esn.Win_ = Win.astype(np.float64)
    esn.bias = _field(z, "bias", path, np.float64, (n,)).astype(np.float64)
    esn.state_ = _field(z, "state", path, np.float64, (n,)).astype(np.float64)
    if "readout" in z:
        esn.readout_ = _field(z, "readout", path, np.float64, (n, None)).astype(np.float64)
        esn.intercept_ = _field(z, "intercept", path, np.float64, (esn.readout_.shape[1],)).astype(np.float64)
    return esn
