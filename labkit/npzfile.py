"""Reading `.npz` files without trusting them: no pickle, and no allocation a member's header
asks for before that size is checked against the bytes the member really holds.

`np.load` allocates each member's array from the shape in its `.npy` header before reading the
data (numpy/lib/format.py `read_array`), so a 100-byte file can ask for terabytes. `read_npz`
reads each member's bytes (bounded by the archive's own sizes and by `max_bytes`), parses the
header (NEP 1, the `.npy` format), checks that shape x itemsize is exactly the data that follows,
and only then builds the array. Every failure is a ValueError naming the path.
"""

from __future__ import annotations

import io
import math
import os
import zipfile
from pathlib import Path

import numpy as np

from labkit.validate import check_int, check_str, type_fail

__all__ = ["read_npz"]


def read_npz(path, max_bytes: int, what: str = "a valid .npz file") -> dict[str, np.ndarray]:
    """{name: array} of the `.npz` at `path` (numeric, bool or str arrays only; object arrays
    refused). `max_bytes` bounds the file and the arrays' total size. ValueError naming `path`
    for anything that is not a well-formed archive of well-formed `.npy` members;
    FileNotFoundError when there is no file."""
    if not isinstance(path, (str, os.PathLike)):
        raise type_fail("path", "a file path (str or os.PathLike)", path)
    max_bytes = check_int("max_bytes", max_bytes, low=1)
    what = check_str("what", what)
    path = Path(path)

    def bad(why: str) -> ValueError:
        return ValueError(f"path: {str(path)!r} is not {what} ({why})")

    if path.is_dir():
        raise bad("a directory")
    if not path.is_file():
        raise FileNotFoundError(f"path: no file at {path}")
    size = path.stat().st_size
    if size > max_bytes:
        raise bad(f"{size} bytes, more than max_bytes={max_bytes}")
    arrays: dict[str, np.ndarray] = {}
    total = 0
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                if info.file_size > max_bytes - total:
                    raise bad(f"member {info.filename!r} of {info.file_size} bytes: more than max_bytes={max_bytes} "
                              "in all")
                raw = zf.read(info)  # at most file_size bytes; zipfile checks the CRC
                arrays[name] = _npy(raw, lambda why, n=info.filename: bad(f"member {n!r}: {why}"))
                total += len(raw)
    except ValueError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, NotImplementedError, RuntimeError,
            UnicodeDecodeError, KeyError) as e:
        raise bad(f"not a readable zip archive ({type(e).__name__}: {e})") from None
    return arrays


def _npy(raw: bytes, bad) -> np.ndarray:
    """One `.npy` member: header checked against the data length before the array exists."""
    fh = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"format version {version}")
    except (ValueError, SyntaxError, TypeError, EOFError, OverflowError) as e:
        raise bad(f"not an .npy array ({e})") from None
    if dtype.hasobject or dtype.kind not in "biufcSU":
        raise bad(f"dtype {dtype}: only numeric, bool and str arrays are read (no pickle)")
    if any(s < 0 for s in shape):
        raise bad(f"negative shape {shape}")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes != len(raw) - fh.tell():
        raise bad(f"header shape {shape} of {dtype} needs {nbytes} bytes, the member holds {len(raw) - fh.tell()}")
    a = np.frombuffer(raw, dtype=dtype, count=math.prod(shape), offset=fh.tell())
    a = a.reshape(shape[::-1]).T if fortran else a.reshape(shape)
    return a.copy()
