"""labkit.hnsw.aot: the insertion kernel compiled ahead of time builds the same graph as numba's JIT kernel
(which the common API test holds to the readable path), and is used only while it matches the sources and
the machine it was built for."""

from __future__ import annotations

import importlib.util
import os
import shutil

import numpy as np
import pytest

from labkit.hnsw import HNSW, aot


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The extension, compiled into a temporary folder. It is optional (the JIT kernel is the fallback, tested
    everywhere), so without numba.pycc or a C compiler these tests skip, saying which is missing."""
    if importlib.util.find_spec("numba.pycc") is None:
        pytest.skip("numba.pycc is gone from this numba: no ahead-of-time kernel (HNSW.add uses the JIT one)")
    if not any(shutil.which(c) for c in (os.environ.get("CC", "cc"), "cc", "gcc", "clang")):
        pytest.skip("no C compiler (cc, gcc, clang): no ahead-of-time kernel (HNSW.add uses the JIT one)")
    directory = tmp_path_factory.mktemp("aot")
    aot.build(directory)
    return directory


def _graph(index: HNSW):
    n, b = index._n, index._nblocks
    return (index._links0[:n].copy(), index._count0[:n].copy(), index._links_up[:b].copy(),
            index._count_up[:b].copy(), index._state.copy())


def _build(X, space, select, insert_range, monkeypatch):
    monkeypatch.setattr(aot, "_KERNEL", [(insert_range, "test")])
    index = HNSW(X.shape[1], space=space, M=8, ef_construction=60, seed=7, select=select)
    for part in np.array_split(X, 3):   # several add calls: the kernel resumes a graph it did not start
        index.add(part)
    return _graph(index)


@pytest.mark.parametrize("space, select", [("l2", "heuristic"), ("cosine", "heuristic"), ("l2", "simple")])
def test_aot_kernel_builds_the_jit_kernels_graph(built, space, select, monkeypatch):
    from labkit.hnsw.kernels import insert_range as jit
    X = np.random.default_rng(3).normal(size=(600, 12)).astype(np.float32)
    X[100:110] = X[0]   # duplicates: ties broken by the heap order on every path
    compiled = aot.load(built)
    assert compiled is not None
    ours = _build(X, space, select, compiled, monkeypatch=monkeypatch)
    theirs = _build(X, space, select, jit, monkeypatch=monkeypatch)
    for a, b in zip(ours, theirs, strict=True):
        assert np.array_equal(a, b)


def test_a_stale_missing_or_broken_extension_is_not_loaded(built, tmp_path):
    assert aot.load(tmp_path) is None                          # nothing built there
    fresh, broken = tmp_path / "fresh", tmp_path / "broken"
    shutil.copytree(built, fresh)
    assert aot.load(fresh) is not None
    (fresh / aot.FINGERPRINT).write_text("0" * 64 + "\n")      # built from other sources or on another CPU
    assert aot.load(fresh) is None
    broken.mkdir()                                              # a truncated or foreign file (a new file: the
    (broken / aot.FINGERPRINT).write_text(aot.fingerprint())    # loaded one stays mapped while this process runs)
    (broken / aot._extension(built).name).write_bytes(b"\x7fELF not really")
    assert aot.load(broken) is None


def test_the_fingerprint_follows_the_compiled_sources(monkeypatch, tmp_path):
    before = aot.fingerprint()
    for name in aot.SOURCES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(aot.PACKAGE / name, tmp_path / name)
    monkeypatch.setattr(aot, "PACKAGE", tmp_path)
    assert aot.fingerprint() == before
    with open(tmp_path / "hnsw" / "construction.py", "a") as f:
        f.write("\n# edited\n")
    assert aot.fingerprint() != before


def test_LABKIT_AOT_0_selects_the_jit_kernel(monkeypatch):
    from labkit.hnsw.kernels import insert_range as jit
    monkeypatch.setattr(aot, "_KERNEL", [])
    monkeypatch.setenv("LABKIT_AOT", "0")
    assert aot.insert_kernel() == (jit, "jit")


def test_a_fresh_process_builds_with_the_extension_and_never_imports_numba(built):
    """Nor labkit's records or sweep machinery: labkit/__init__.py loads them on first use."""
    import subprocess
    import sys
    unused = ("numba", "labkit.records", "labkit.sweeps", "labkit.execute", "papermill")
    code = ("import sys, numpy as np; from pathlib import Path; from labkit.hnsw import HNSW, aot; "
            f"aot.HERE = Path({str(built)!r}); HNSW(4).add(np.eye(4, dtype=np.float32)); "
            f"print(aot.insert_kernel()[1], [m for m in {unused!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "aot []", out
