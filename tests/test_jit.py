"""labkit.jit: a readable helper compiled into a kernel, and the kernel's on-disk cache kept in step with
every file it compiles (numba's own cache keys on the kernel's file alone)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

KERNELS = """
from numba import njit

from labkit import jit
from pkg_x import helper

jit.register()


def covered():
    return helper.answer()


def plain():
    return helper.answer()


covered_k = njit(cache=True)(covered)
jit.cache_covers([covered_k], [helper.__file__])
plain_k = njit(cache=True)(plain)   # numba's cache alone
print(covered_k(), plain_k(), covered_k.stats.cache_hits.get(covered_k.signatures[0], 0))
"""


def _run(tmp_path) -> list[int]:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", "import pkg_x.kernels"], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    return [int(v) for v in out.stdout.split()]


def _helper(tmp_path, value: int) -> None:
    (tmp_path / "pkg_x" / "helper.py").write_text(textwrap.dedent(f"""
        from labkit.jit import jitable


        @jitable
        def answer():
            return {value}
        """))


def test_an_edit_to_a_compiled_in_helper_recompiles_the_covered_kernel(tmp_path):
    (tmp_path / "pkg_x").mkdir()
    (tmp_path / "pkg_x" / "__init__.py").write_text("")
    (tmp_path / "pkg_x" / "kernels.py").write_text(KERNELS)
    _helper(tmp_path, 1)
    assert _run(tmp_path) == [1, 1, 0]          # compiled and saved
    assert _run(tmp_path) == [1, 1, 1]          # a fresh process loads the covered kernel from the cache
    _helper(tmp_path, 22)                       # the helper's file changes; the kernel's does not
    covered, plain, hits = _run(tmp_path)
    assert (covered, hits) == (22, 0)           # recompiled from the sources as they are now
    assert plain == 1, "numba's cache no longer serves a stale kernel: cache_covers may be retired"
