"""Property test: a corrupt hnswlib index file is refused cleanly or answers rightly, never crashes.

Hypothesis mutates one valid index file (truncations, appended bytes, bit flips, bytes and aligned
32-bit words set to edge values, header fields set to edge values) and asserts, for every mutant:

  - `read_index` / `HNSW.load` raise a ValueError naming the path (nothing else), or
  - the file loads, and then the fast (numba) and readable backends answer alike, and
      * the answers are identical to the uncorrupted index's when the file's contents are unchanged
        (a flip in an unused slot, a header field search does not read), or
      * otherwise the file holds a different, well-formed index, and every answer is right for it:
        labels of live elements, distinct in a row, each distance the query's distance to that
        label's stored vector, in order. (A bit flip in a vector or in a link to another valid node
        is a different index no loader can tell from a meant one.)

The examples run in a subprocess: a segfault in the numba search kills that process and fails this
test (with the last example printed) instead of killing pytest. Examples are bounded and derandomized
(reproducible); the run takes a few seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("hypothesis")

EXAMPLES = 400


def test_corrupt_index_files_fail_cleanly_or_answer_rightly(tmp_path):
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    r = subprocess.run([sys.executable, __file__, str(tmp_path), str(EXAMPLES)], capture_output=True, text=True,
                       timeout=300, env=env)
    tail = "\n".join((r.stdout + r.stderr).splitlines()[-30:])
    if r.returncode < 0:
        pytest.fail(f"the fuzz process died of {signal.Signals(-r.returncode).name}; last lines:\n{tail}")
    assert r.returncode == 0, tail
    assert "done: " in r.stdout, tail


# -- the subprocess -------------------------------------------------------------------------------------
def _worker(folder: Path, examples: int) -> None:
    import dataclasses
    import struct

    import numpy as np
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from labkit.hnsw import HNSW, read_index

    K, EF = 5, 20
    rng = np.random.default_rng(0)
    X = rng.standard_normal((150, 8)).astype(np.float32)
    Q = rng.standard_normal((12, 8)).astype(np.float32)
    index = HNSW(8, M=4, ef_construction=20, seed=3)  # M=4: a quarter of the nodes have upper levels
    index.add(X, ids=np.arange(150) * 5 + 2)
    index.mark_deleted(12)
    base = folder / "base.bin"
    index.save(base)
    data = base.read_bytes()
    ref = read_index(base)
    ref_fields = {f.name: getattr(ref, f.name) for f in dataclasses.fields(ref)}
    ref_answer = HNSW.load(base).search(Q, k=K, ef=EF)
    size, up0 = len(data), 96 + ref.n * (4 + 4 * ref.maxM0 + 4 * ref.dim + 8)
    path = folder / "mutant.bin"
    counter = [0]

    words = st.sampled_from([0, 1, 2, 3, 4, 8, 149, 150, 151, 255, 256, 2**15, 2**16 - 1, 2**16, 2**31, 2**32 - 1])
    header_values = st.sampled_from([0, 1, 2, 3, 7, 8, 16, 17, 64, 100, 149, 150, 151, 2**31, 2**32, 2**63,
                                     2**64 - 1])
    mutation = st.one_of(
        st.tuples(st.just("truncate"), st.integers(0, size - 1)),
        st.tuples(st.just("append"), st.binary(min_size=1, max_size=12)),
        st.tuples(st.just("flip"), st.lists(st.tuples(st.integers(0, size - 1), st.integers(0, 7)),
                                            min_size=1, max_size=3)),
        st.tuples(st.just("flip upper"), st.lists(st.tuples(st.integers(up0, size - 1), st.integers(0, 7)),
                                                  min_size=1, max_size=3)),
        st.tuples(st.just("word"), st.integers(0, size // 4 - 1), st.one_of(words, st.integers(0, 149))),
        st.tuples(st.just("upper word"), st.integers(up0 // 4, size // 4 - 1), st.one_of(words, st.integers(0, 149))),
        st.tuples(st.just("header u64"), st.sampled_from([0, 8, 16, 24, 32, 40, 56, 64, 72, 88]), header_values),
        st.tuples(st.just("header i32"), st.sampled_from([48, 52]),
                  st.sampled_from([0, 1, 2, 3, 149, 150, 2**31 - 1, 2**32 - 1])),
        st.tuples(st.just("mult"), st.sampled_from([0.0, -1.0, float("nan"), float("inf"), 1e-300, 0.5, 1.0, 2.0])),
    )

    def mutate(m) -> bytes:
        b = bytearray(data)
        kind = m[0]
        if kind == "truncate":
            return bytes(b[: m[1]])
        if kind == "append":
            return bytes(b) + m[1]
        if kind in ("flip", "flip upper"):
            for pos, bit in m[1]:
                b[pos] ^= 1 << bit
        elif kind in ("word", "upper word"):
            struct.pack_into("<I", b, 4 * m[1], m[2])
        elif kind == "header u64":
            struct.pack_into("<Q", b, m[1], m[2])
        elif kind == "header i32":
            struct.pack_into("<I", b, m[1], m[2])
        elif kind == "mult":
            struct.pack_into("<d", b, 80, m[1])
        return bytes(b)

    def unchanged(f) -> bool:
        return all(np.array_equal(getattr(f, k), v) if isinstance(v, np.ndarray) else getattr(f, k) == v
                   for k, v in ref_fields.items() if k not in ("max_elements", "ef_construction", "mult", "spare0",
                                                                "spare_up"))

    def well_formed(b: bytes, f) -> None:
        """An independent reading of the loaded bytes (hnswalg.h v0.8.0 saveIndex, with struct): the
        graph labkit returned is the one in the file, and it has hnswlib's integrity (checkIntegrity):
        each level-l link names a node that has a level-l list, not itself, not twice; counts within
        capacity; the entry point on the top level."""
        (_, _, n, rec, _, _, maxlevel, enter, maxM, maxM0, _, _, _) = struct.unpack_from("<QQQQQQiIQQQdQ", b)
        lists = {}
        for i in range(n):
            (count,) = struct.unpack_from("<H", b, 96 + i * rec)
            assert count <= maxM0, f"node {i}: {count} links on level 0"
            lists[i, 0] = struct.unpack_from(f"<{count}I", b, 96 + i * rec + 4)
        pos = 96 + n * rec
        for i in range(n):
            (nbytes,) = struct.unpack_from("<I", b, pos)
            for lv in range(1, nbytes // (4 + 4 * maxM) + 1):
                at = pos + 4 + (lv - 1) * (4 + 4 * maxM)
                (count,) = struct.unpack_from("<H", b, at)
                assert count <= maxM, f"node {i}: {count} links on level {lv}"
                lists[i, lv] = struct.unpack_from(f"<{count}I", b, at + 4)
            pos += 4 + nbytes
        for (i, lv), links in lists.items():
            assert len(set(links)) == len(links) and i not in links, f"node {i} level {lv}: repeated or self link"
            assert all((t, lv) in lists for t in links), f"node {i} level {lv}: a link to a node without that level"
            np.testing.assert_array_equal(f.neighbors(i, lv), links)
        top = max(lv for _, lv in lists) if n else 0
        assert maxlevel == top and (enter, top) in lists, "the entry point is not on the top level"

    def right_for(idx, labels, dists) -> None:
        s = idx.snapshot()
        live = set(s.labels[~s.deleted].tolist())
        row_of = {int(lab): i for i, lab in enumerate(s.labels)}
        for i in range(len(Q)):
            found = [int(x) for x in labels[i] if x != -1]
            assert labels[i][: len(found)].tolist() == found, "padding before results"
            assert set(found) <= live and len(set(found)) == len(found), "a label not live, or twice"
            if found:
                true = ((s.vectors[[row_of[x] for x in found]].astype(np.float64) - Q[i]) ** 2).sum(1)
                np.testing.assert_allclose(dists[i][: len(found)], true, rtol=1e-5, atol=1e-5)
                assert (np.diff(dists[i][: len(found)]) >= 0).all(), "results out of order"

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(mutation)
    def check(m):
        counter[0] += 1
        print("example", counter[0], repr(m)[:200], flush=True)  # the last line names a crashing example
        path.write_bytes(mutate(m))
        try:
            f = read_index(path)
            idx = HNSW.load(path)
        except ValueError as e:
            assert str(path) in str(e), f"the error does not name the path: {e}"
            return
        well_formed(path.read_bytes(), f)
        if len(idx) < K:
            return
        lf, df = idx.search(Q, k=K, ef=EF)
        idx.backend = "readable"
        lr, dr = idx.search(Q, k=K, ef=EF)
        np.testing.assert_array_equal(lf, lr)
        np.testing.assert_allclose(df, dr, rtol=1e-6)
        if unchanged(f):
            np.testing.assert_array_equal(lf, ref_answer[0])
            np.testing.assert_array_equal(df, ref_answer[1])
        else:
            right_for(idx, lf, df)

    check()
    print(f"done: {counter[0]} examples", flush=True)


if __name__ == "__main__":
    _worker(Path(sys.argv[1]), int(sys.argv[2]))
