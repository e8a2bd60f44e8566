"""Atomic file writes: a reader sees the old file or the whole new one, never a half-written one.

    with atomic_write(path) as f:      # f: a binary file object in the destination's directory
        f.write(...)

Each writer gets its own temporary name (`.<name>.<pid>-<random>.tmp` beside the destination), so
concurrent writers of one path never share a temporary; the data is fsync'ed before `os.replace`
puts it in place; on any failure the temporary is removed and the error names the user's path.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

__all__ = ["atomic_write", "TMP_SUFFIX"]

TMP_SUFFIX = ".tmp"


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb"):
    """Yield a file object whose content replaces `path` atomically when the block ends without error."""
    if mode not in ("wb", "w"):
        raise ValueError(f"mode: expected 'wb' or 'w', got {mode!r}")
    try:
        path = Path(os.fspath(path))
    except TypeError:
        raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}") from None
    if path.is_dir():
        raise ValueError(f"path: expected a file path, got the directory {str(path)!r}")
    if not path.parent.is_dir():
        raise ValueError(f"path: expected a path in an existing directory, got {str(path)!r}")
    tmp = path.parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{TMP_SUFFIX}"
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(e, OSError):
            raise OSError(e.errno, f"writing {str(path)!r} failed: {e.strerror}") from e
        raise
