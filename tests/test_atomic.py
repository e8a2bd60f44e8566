"""labkit.atomic: whole files or nothing, under failures, concurrent writers and killed writers."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from labkit import atomic
from labkit.atomic import atomic_write, clean_orphans


def _temps(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_writes_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "f.bin"
    with atomic_write(path) as f:
        f.write(b"one")
    with atomic_write(str(path)) as f:
        f.write(b"two")
    with atomic_write(tmp_path / "t.txt", "w") as f:
        f.write("é\n")
    assert path.read_bytes() == b"two" and (tmp_path / "t.txt").read_bytes() == "é\n".encode()
    assert _temps(tmp_path) == []


def test_an_error_in_the_block_keeps_the_old_file(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(path) as f:
            f.write(b"half")
            raise RuntimeError("boom")
    assert path.read_bytes() == b"old" and _temps(tmp_path) == []


@pytest.mark.parametrize("where", ["fsync", "replace"])
def test_os_errors_name_the_users_path_not_the_temporary(tmp_path, monkeypatch, where):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")

    def fails(*args):
        raise OSError(errno.ENOSPC, "No space left on device", str(args[0]))
    monkeypatch.setattr(atomic.os, where, fails)
    with pytest.raises(OSError) as e:
        with atomic_write(path) as f:
            f.write(b"new")
    monkeypatch.undo()
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(path) and ".tmp" not in str(e.value)
    assert path.read_bytes() == b"old" and _temps(tmp_path) == []


def test_bad_paths_and_modes_are_refused_at_the_call(tmp_path):
    with pytest.raises(ValueError, match="^path: expected a file path, not a directory"):
        atomic_write(tmp_path)
    with pytest.raises(ValueError, match="^path: expected a path in an existing directory"):
        atomic_write(tmp_path / "missing" / "f.bin")
    with pytest.raises(TypeError, match="^path:"):
        atomic_write(3)
    with pytest.raises(ValueError, match="^mode:"):
        atomic_write(tmp_path / "f.bin", "a")
    assert list(tmp_path.iterdir()) == []


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_orphans_of_dead_writers_are_cleaned_and_live_ones_kept(tmp_path):
    path = tmp_path / "index.bin"
    dead = _dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        names = {f".index.bin.{dead}-0123abcd.tmp": False,         # a killed writer's: removed
                 f".index.bin.{live.pid}-0123abcd.tmp": True,      # a live writer's: kept
                 f".index.bin.{os.getpid()}-0123abcd.tmp": True,   # this process's: kept
                 f".other.bin.{dead}-0123abcd.tmp": True,          # another path's: kept
                 ".index.bin.tmp": True, "index.bin.123-0123abcd.tmp": True}  # not our pattern: kept
        for name in names:
            (tmp_path / name).write_bytes(b"x")
        with atomic_write(path) as f:
            f.write(b"new")
        assert _temps(tmp_path) == sorted(n for n, kept in names.items() if kept)
        assert clean_orphans(path) == []
    finally:
        live.kill()
        live.wait()


WRITER = r"""
import sys, time
from labkit.atomic import atomic_write
with atomic_write(sys.argv[1]) as f:
    f.write(b"x" * (64 << 20))
    f.flush()
    print("writing", flush=True)
    while True:  # a save that never ends: killed here, mid-write
        f.write(b"y" * 4096)
        time.sleep(0.01)
"""


def test_a_killed_writer_leaves_an_orphan_the_next_save_removes(tmp_path):
    from labkit.hnsw import HNSW
    path = tmp_path / "index.bin"
    p = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "writing"
        orphan = _temps(tmp_path)
        assert len(orphan) == 1 and orphan[0].startswith(f".index.bin.{p.pid}-")
        assert (tmp_path / orphan[0]).stat().st_size >= 64 << 20
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert not path.exists() and len(_temps(tmp_path)) == 1   # kill -9: nothing removed it
    index = HNSW(4, M=4, ef_construction=10)
    index.add(np.eye(4, dtype=np.float32))
    index.save(path)                                              # the next writer of the path
    assert _temps(tmp_path) == [] and len(HNSW.load(path)) == 4


SAVER = r"""
import sys
import numpy as np
from labkit.data import Dataset, save_npz
k, path, times = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
rng = np.random.default_rng(k)
ds = Dataset(f"w{k}", np.full((20000, 16), k, np.float32), rng.random((10, 16), dtype=np.float32))
for _ in range(times):
    save_npz(ds, path)
print("ok", flush=True)
"""


def test_concurrent_saves_and_a_reader_see_whole_files_only(tmp_path):
    """Three processes save one path 25 times each (1.3 MB files) while this process loads it
    in a loop: every read is a complete file from one writer, nobody gets FileNotFoundError."""
    from labkit.data import load_npz
    path = tmp_path / "shared.npz"
    writers = [subprocess.Popen([sys.executable, "-c", SAVER, str(k), str(path), "25"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for k in (1, 2, 3)]
    reads, seen = 0, set()
    deadline = time.monotonic() + 240
    while any(w.poll() is None for w in writers) and time.monotonic() < deadline:
        if not path.exists():
            time.sleep(0.005)
            continue
        ds = load_npz(path)  # a partial file would raise ValueError here
        value = float(ds.train[0, 0])
        assert ds.train.shape == (20000, 16) and (ds.train == value).all() and value in (1.0, 2.0, 3.0)
        seen.add(value)
        reads += 1
    outs = [w.communicate(timeout=60) for w in writers]
    assert all(w.returncode == 0 and o.strip() == "ok" for w, (o, _) in zip(writers, outs, strict=True)), outs
    assert reads >= 5, reads
    assert _temps(tmp_path) == []
