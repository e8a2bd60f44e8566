"""labkit.hnsw.heap replays libstdc++'s std::priority_queue, ties included (oracle: g++)."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.hnsw.heap import heap_pop, heap_push

SRC = Path(__file__).parent / "cpp" / "priority_queue.cpp"


@pytest.fixture(scope="module")
def oracle(tmp_path_factory):
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("g++ not found: the std::priority_queue oracle cannot be built")
    exe = tmp_path_factory.mktemp("cpp") / "pq"
    subprocess.run([gxx, "-O1", "-o", str(exe), str(SRC)], check=True)
    return exe


def _replay(ops, by_id):
    keys, ids = np.zeros(len(ops)), np.zeros(len(ops), np.int64)
    size, out = 0, []
    for op in ops:
        if op[0] == "u":
            size = heap_push(keys, ids, size, op[1], op[2], by_id)
        elif size:
            out.append((keys[0], int(ids[0])))
            size = heap_pop(keys, ids, size, by_id)
    return out


ops_strategy = st.lists(st.one_of(st.tuples(st.just("u"), st.integers(0, 4).map(float), st.integers(0, 50)),
                                  st.tuples(st.just("o"))), min_size=1, max_size=80)


@settings(max_examples=60, deadline=None)
@given(ops=ops_strategy, by_id=st.booleans())
def test_heap_matches_libstdcxx_priority_queue(oracle, ops, by_id):
    size, valid = 0, []
    for op in ops:  # never pop an empty queue (undefined behaviour in C++)
        if op[0] == "o" and size == 0:
            continue
        size += 1 if op[0] == "u" else -1
        valid.append(op)
    text = "\n".join(f"u {op[1]} {op[2]}" if op[0] == "u" else "o" for op in valid) + "\n"
    r = subprocess.run([str(oracle), str(int(by_id))], input=text, capture_output=True, text=True, check=True)
    expected = [(float(a), int(b)) for a, b in (line.split() for line in r.stdout.split("\n") if line)]
    assert _replay(valid, by_id) == expected


def test_heap_is_a_max_heap():
    keys, ids = np.zeros(10), np.zeros(10, np.int64)
    size = 0
    for k in [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0]:
        size = heap_push(keys, ids, size, k, 0, False)
    popped = []
    while size:
        popped.append(keys[0])
        size = heap_pop(keys, ids, size, False)
    assert popped == sorted(popped, reverse=True)
