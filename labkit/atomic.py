"""Atomic file writes: a reader sees the old file or the whole new one, never a half-written one.

    with atomic_write(path) as f:      # f: a binary file object in the destination's directory
        f.write(...)
    with atomic_write(path, "w") as f:  # text (UTF-8)
        f.write("...")

Each writer gets its own temporary name beside the destination, `.<name>.<pid>-<8 hex>.tmp`
(created with O_EXCL, so two writers never share one); the data is fsync'ed before `os.replace`
puts it in place (POSIX rename(2): the destination name always refers to a complete file), then
the directory is fsync'ed so the rename itself survives a power loss. On any failure, an exception
in the block included, the temporary is removed and the destination is left as it was; an OSError
names the user's path, not the temporary.

A writer killed mid-write (SIGKILL, power loss) cannot remove its temporary. The name says whose
it was: the next `atomic_write` of the same path removes every temporary of that path whose
writer's pid is no longer alive on this machine (`clean_orphans`). Temporaries of live writers,
this process's included, are never touched.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from labkit.validate import check_choice, fail, type_fail

__all__ = ["atomic_write", "clean_orphans", "TMP_SUFFIX"]

TMP_SUFFIX = ".tmp"


def _target(path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise type_fail("path", "a file path (str or os.PathLike)", path)
    path = Path(os.fspath(path))
    if not path.name or path.is_dir():
        raise fail("path", "a file path, not a directory", str(path))
    if not path.parent.is_dir():
        raise fail("path", "a path in an existing directory", str(path))
    return path


def _temp_pattern(path: Path) -> re.Pattern:
    return re.compile(r"\." + re.escape(path.name) + r"\.(\d+)-[0-9a-f]{8}" + re.escape(TMP_SUFFIX) + r"\Z")


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a live process of another user
        return True
    except OverflowError:  # a pid no kernel issues
        return False
    return True


def clean_orphans(path) -> list[Path]:
    """Remove the temporaries that killed writers of `path` left beside it (named
    `.<name>.<pid>-<hex>.tmp`, pid no longer alive); returns the paths removed."""
    path = _target(path)
    pattern = _temp_pattern(path)
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        m = pattern.match(entry.name)
        if m is None or _alive(int(m.group(1))):
            continue
        with contextlib.suppress(FileNotFoundError):  # another writer may clean it at the same time
            os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # platforms without directory file descriptors
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _naming(path: Path, e: OSError) -> OSError:
    """The same kind of OSError, naming the user's path instead of the temporary."""
    if e.errno is None:
        return OSError(f"writing {str(path)!r} failed: {e}")
    return OSError(e.errno, f"writing failed: {e.strerror or e}", str(path))


class _AtomicWrite:
    def __init__(self, path: Path, mode: str):
        self.path, self.mode = path, mode
        self.tmp: Path | None = None
        self.file = None

    def __enter__(self):
        clean_orphans(self.path)
        self.tmp = self.path.parent / f".{self.path.name}.{os.getpid()}-{os.urandom(4).hex()}{TMP_SUFFIX}"
        try:
            self.file = open(self.tmp, "xb" if self.mode == "wb" else "x",
                             **({} if self.mode == "wb" else {"encoding": "utf-8", "newline": ""}))
        except OSError as e:
            raise _naming(self.path, e) from e
        return self.file

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.file.flush()
                os.fsync(self.file.fileno())
            self.file.close()
            if exc_type is None:
                os.replace(self.tmp, self.path)
                _fsync_dir(self.path.parent)
        except BaseException as e:
            with contextlib.suppress(OSError):
                self.file.close()
            with contextlib.suppress(FileNotFoundError):
                self.tmp.unlink()
            if isinstance(e, OSError):
                raise _naming(self.path, e) from e
            raise
        if exc_type is not None:
            with contextlib.suppress(FileNotFoundError):
                self.tmp.unlink()
            if isinstance(exc, OSError):  # e.g. ENOSPC while writing: name the user's path
                raise _naming(self.path, exc) from exc
        return False


def atomic_write(path, mode: str = "wb") -> _AtomicWrite:
    """A context manager yielding a file object (mode "wb" binary, "w" UTF-8 text) whose content
    replaces `path` atomically when the block ends without error. `path` must name a file in an
    existing directory (a directory path is refused). Orphaned temporaries of killed writers of
    `path` are removed first (see `clean_orphans`)."""
    mode = check_choice("mode", mode, ("wb", "w"))
    return _AtomicWrite(_target(path), mode)
