"""Readable functions that a fast path compiles, marked where they are written and handed to numba only
when a kernels module is imported: importing the readable module does not import numba (0.3-0.4 s), and an
ahead-of-time compiled kernel (labkit/hnsw/aot.py) runs without it.

    @jitable                 # in the readable module: plain Python when called from Python
    def heap_push(...): ...

    jit.register()           # in kernels.py, before its kernels: numba.extending.register_jitable on every
                             # marked function, so that a kernel calling one compiles this same source
"""

from __future__ import annotations

__all__ = ["jitable", "register"]

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
