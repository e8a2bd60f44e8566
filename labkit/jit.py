"""Readable functions that a fast path compiles, marked where they are written and handed to numba only
when a kernels module is imported: importing the readable module does not import numba (0.3-0.4 s), and an
ahead-of-time compiled kernel (labkit/hnsw/aot.py) runs without it.

    @jitable                 # in the readable module: plain Python when called from Python
    def heap_push(...): ...

    jit.register()           # in kernels.py, before its kernels: numba.extending.register_jitable on every
                             # marked function, so that a kernel calling one compiles this same source

    jit.cache_covers(kernels, files)   # in kernels.py, after cached kernels that compile code from other
                                       # files: an edit to any of them recompiles them (numba's cache would not)
"""

from __future__ import annotations

__all__ = ["jitable", "register", "cache_covers"]

_MARKED: list = []   # (function, register_jitable options), in the order they were marked


def jitable(fn=None, **options):
    """Mark `fn` (used as @jitable or @jitable(inline="always")); it is returned unchanged."""
    def mark(f):
        _MARKED.append((f, options))
        return f
    return mark(fn) if fn is not None else mark


def register() -> None:
    """Register every marked function with numba (idempotent: each once)."""
    from numba.extending import register_jitable
    while _MARKED:
        f, options = _MARKED.pop(0)
        register_jitable(**options)(f) if options else register_jitable(f)


def cache_covers(kernels, files) -> None:
    """Key the on-disk cache of each of `kernels` (`njit(cache=True)` dispatchers) on `files` too.

    numba's cache keys a kernel on the file that defines it (its mtime and size) and on nothing else,
    so an edit to a function it compiles in from another file (a `jitable` helper, an `overload` twin)
    would leave the old machine code in the cache, and a fresh process would run it. The sha256 of
    `files` (read once) is kept beside each kernel's cache (`<cache dir>/<module>.<name>.sources`);
    where it differs, that kernel's cache is flushed and its next call compiles the sources as they are."""
    import hashlib
    from pathlib import Path

    from labkit.atomic import atomic_write
    digest = hashlib.sha256(b"".join(Path(f).read_bytes() for f in files)).hexdigest()
    for dispatcher in kernels:
        cache = dispatcher._cache   # numba's FunctionCache (`cache_path` and `flush` are numba's _Cache API)
        fn = dispatcher.py_func
        stamp = Path(cache.cache_path) / f"{fn.__module__}.{fn.__qualname__}.sources"
        try:
            if stamp.read_text() == digest:
                continue
        except OSError:   # no stamp yet
            pass
        try:
            cache.flush()
            stamp.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(stamp, "w") as f:
                f.write(digest)
        except OSError:   # a read-only cache folder: numba cannot save there either
            pass
