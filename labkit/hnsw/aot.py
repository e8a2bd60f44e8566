"""The insertion kernel compiled ahead of time, so that the first `HNSW.add` in a fresh process does not
wait for numba: importing numba, setting up its CPU target and loading `kernels.insert_range` from its
on-disk cache take 0.5-0.8 s, several times hnswlib's whole build of a small set.

    python -m labkit.hnsw.aot        # `make setup` (so `make test`) runs it; about 10 s

compiles `construction.insert_range` (the same source numba's JIT compiles, with kernels.py's compiled
twins of its leaf primitives) with `numba.pycc` into a CPython extension beside this file, for this
machine's CPU, and writes a fingerprint beside it: a hash of the sources it was compiled from, numpy's
and Python's versions and the CPU. `insert_kernel()` uses the extension only while the fingerprint
matches; otherwise (not built, sources edited, another machine, LABKIT_AOT=0) it falls back to numba's
JIT kernel, which gives the same graph (tests/test_hnsw_aot.py). The extension needs only numpy to run.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np

__all__ = ["build", "load", "insert_kernel", "fingerprint"]

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent   # labkit/
MODULE = "_insert_aot"
FINGERPRINT = MODULE + ".fingerprint"
SOURCES = ("hnsw/construction.py", "hnsw/heap.py", "hnsw/kernels.py", "hnsw/aot.py", "jit.py")
# insert_range(space, X, start, stop, levels, M, maxM, maxM0, efc, links0, count0, links_up, count_up,
#              block_start, deleted, state, simple, ipool, fpool): the arrays index.py keeps, C-contiguous
SIGNATURE = ("void(i8, f4[:, ::1], i8, i8, i8[::1], i8, i8, i8, i8, i8[:, ::1], i8[::1], i8[:, ::1], i8[::1], "
             "i8[::1], b1[::1], i8[::1], b1, i8[::1], f8[::1])")


def _cpu() -> bytes:
    """This machine's CPU model and instruction-set flags (the extension is compiled for them)."""
    try:
        with open("/proc/cpuinfo", "rb") as f:
            lines = f.read(1 << 16).splitlines()
        return b"\n".join(sorted({ln for ln in lines if ln.startswith((b"model name", b"flags"))}))
    except OSError:
        import platform
        return f"{platform.machine()} {platform.processor()}".encode()


def fingerprint() -> str:
    """sha256 of the compiled sources, numpy's and Python's versions and the CPU."""
    h = hashlib.sha256()
    for name in SOURCES:
        h.update((PACKAGE / name).read_bytes())
    h.update(f"{np.__version__} {sys.version}".encode())
    h.update(_cpu())
    return h.hexdigest()


def _extension(directory: Path) -> Path | None:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        if (directory / (MODULE + suffix)).is_file():
            return directory / (MODULE + suffix)
    return None


def build(directory=None) -> Path:
    """Compile the extension into `directory` (default: beside this file); returns its path. The
    extension and then its fingerprint are put in place atomically (os.replace), so a reader never
    loads a half-written one and a stale pair is never taken for fresh."""
    import tempfile
    import warnings

    from numba.core.errors import NumbaPendingDeprecationWarning

    from labkit.atomic import atomic_write
    from labkit.hnsw import construction, kernels  # noqa: F401  (kernels: registers the compiled twins)
    directory = HERE if directory is None else Path(directory)
    stamp = fingerprint()
    with tempfile.TemporaryDirectory(dir=directory, prefix=".aot-") as tmp, warnings.catch_warnings():
        # numba 0.68 marks pycc "pending deprecation"; when it is gone, build() fails and the JIT kernel is used
        warnings.simplefilter("ignore", category=NumbaPendingDeprecationWarning)
        from numba.pycc import CC
        cc = CC(MODULE)
        cc.output_dir = tmp
        cc.target_cpu = "host"
        cc.use_nrt = False   # as kernels.insert_range: no allocation inside, no reference counting
        cc.verbose = False
        cc.export("insert_range", SIGNATURE)(construction.insert_range)
        cc.compile()
        built = _extension(Path(tmp))
        if built is None:
            raise RuntimeError(f"numba.pycc wrote no {MODULE} extension into {tmp}")
        (directory / FINGERPRINT).unlink(missing_ok=True)
        os.replace(built, directory / built.name)
    with atomic_write(directory / FINGERPRINT, "w") as f:
        f.write(stamp + "\n")
    return directory / built.name


def load(directory=None):
    """The compiled `insert_range` from `directory` (default: beside this file), or None when it is
    absent, its fingerprint does not match these sources and this machine, or it does not import."""
    directory = HERE if directory is None else Path(directory)
    try:
        if (directory / FINGERPRINT).read_text().strip() != fingerprint():
            return None
    except OSError:
        return None
    path = _extension(directory)
    if path is None:
        return None
    try:
        spec = importlib.util.spec_from_file_location(MODULE, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except (ImportError, OSError):
        return None
    return module.insert_range


_KERNEL: list = []


def insert_kernel():
    """(insert_range, "aot" or "jit"): the ahead-of-time extension when it is fresh and LABKIT_AOT is
    not "0", else numba's JIT kernel; chosen once per process."""
    if not _KERNEL:
        fn = load() if os.environ.get("LABKIT_AOT", "1") != "0" else None
        if fn is not None:
            _KERNEL.append((fn, "aot"))
        else:
            from labkit.hnsw.kernels import insert_range
            _KERNEL.append((insert_range, "jit"))
    return _KERNEL[0]


if __name__ == "__main__":
    import time
    t = time.perf_counter()
    try:
        path = build()
    except Exception as e:  # a machine without a C compiler still has the JIT kernel
        print(f"labkit.hnsw.aot: not built ({type(e).__name__}: {e}); HNSW.add uses numba's JIT kernel",
              file=sys.stderr)
        sys.exit(0)
    print(f"labkit.hnsw.aot: {path.name} built in {time.perf_counter() - t:.1f} s")
