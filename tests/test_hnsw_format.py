"""hnswlib interop: levels node for node, the index file byte for byte, corrupt files refused."""

from __future__ import annotations

import struct

import numpy as np
import pytest

hnswlib = pytest.importorskip("hnswlib")  # the anchor; part of the dev extra

from labkit.hnsw import LevelGenerator, default_mult, read_index, write_index  # noqa: E402
from labkit.hnsw.format import HEADER  # noqa: E402


def _hnswlib_index(tmp_path, n=2000, dim=16, M=8, efc=50, seed=100, space="l2", max_elements=None, data_seed=0,
                   delete=()):
    X = np.random.default_rng(data_seed).standard_normal((n, dim)).astype(np.float32)
    p = hnswlib.Index(space=space, dim=dim)
    p.init_index(max_elements=max_elements or n, M=M, ef_construction=efc, random_seed=seed)
    p.add_items(X, np.arange(n) * 3 + 7, num_threads=1)  # labels differ from internal ids
    for label in delete:
        p.mark_deleted(label)
    path = tmp_path / f"h-{space}-{M}-{seed}.bin"
    p.save_index(str(path))
    return p, X, path


@pytest.mark.parametrize("M, seed", [(8, 100), (16, 1), (5, 12345)])
def test_levels_match_hnswlib_node_for_node(tmp_path, M, seed):
    _, _, path = _hnswlib_index(tmp_path, n=3000, M=M, seed=seed)
    f = read_index(path)
    expected = LevelGenerator(seed).levels(3000, default_mult(M))
    np.testing.assert_array_equal(f.levels, expected)
    assert f.mult == pytest.approx(default_mult(M), rel=1e-15)


def test_level_distribution_follows_m_to_the_minus_l():
    lv = LevelGenerator(7).levels(200_000, default_mult(16))
    frac = [(lv >= lvl).mean() for lvl in (1, 2)]
    assert frac[0] == pytest.approx(1 / 16, rel=0.05) and frac[1] == pytest.approx(1 / 256, rel=0.2)


@pytest.mark.parametrize("space, max_elements, delete", [("l2", None, ()), ("ip", 2500, (7, 100)),
                                                         ("cosine", None, (13,))])
def test_read_write_is_byte_identical(tmp_path, space, max_elements, delete):
    p, X, path = _hnswlib_index(tmp_path, space=space, max_elements=max_elements, delete=delete)
    f = read_index(path, dim=16)
    assert f.n == 2000 and f.dim == 16 and f.max_elements == (max_elements or 2000)
    np.testing.assert_array_equal(f.labels, np.arange(2000) * 3 + 7)
    if space == "l2":
        np.testing.assert_array_equal(f.vectors, X)
    assert sorted(f.labels[f.deleted]) == sorted(delete)
    assert f.nbytes == p.index_file_size() == path.stat().st_size
    out = tmp_path / "again.bin"
    write_index(f, out)
    assert out.read_bytes() == path.read_bytes()
    q = hnswlib.Index(space=space, dim=16)
    q.load_index(str(out))
    q.set_ef(50)
    p.set_ef(50)
    np.testing.assert_array_equal(q.knn_query(X[:50], k=5)[0], p.knn_query(X[:50], k=5)[0])


def test_layers_csr_and_graph_invariants(tmp_path):
    _, _, path = _hnswlib_index(tmp_path, n=3000, M=8)
    f = read_index(path)
    layers = f.layers()
    assert len(layers) == f.maxlevel + 1
    assert [len(L["nodes"]) for L in layers] == [int((f.levels >= lvl).sum()) for lvl in range(f.maxlevel + 1)]
    for L in layers:
        deg = np.diff(L["indptr"])
        cap = f.maxM0 if L["level"] == 0 else f.maxM
        assert deg.max() <= cap and L["indices"].max() < f.n
        # every neighbour of a layer-l node is itself on layer l
        assert (f.levels[L["indices"]] >= L["level"]).all()
    assert f.enterpoint in layers[-1]["nodes"]
    # a new node keeps at most M links of its own; with back-links layer 0 fills towards 2M
    assert np.diff(layers[0]["indptr"]).mean() > f.M


def _corrupt(path, offset, fmt, value):
    data = bytearray(path.read_bytes())
    struct.pack_into(fmt, data, offset, value)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("change, match", [
    (lambda p: p.write_bytes(p.read_bytes()[:50]), "shorter than the 96-byte header"),
    (lambda p: p.write_bytes(p.read_bytes()[:-10]), "runs past the end|ends inside"),
    (lambda p: p.write_bytes(p.read_bytes() + b"\0" * 8), "left over"),
    (lambda p: _corrupt(p, 16, "<Q", 10**12), "exceeds max_elements|need more than"),
    (lambda p: _corrupt(p, 8, "<Q", 10**12) or _corrupt(p, 16, "<Q", 10**11), "need more than"),
    (lambda p: _corrupt(p, 40, "<Q", 12), "offsetData"),
    (lambda p: _corrupt(p, 52, "<I", 99999), "entry point"),
    (lambda p: _corrupt(p, 96 + 4, "<I", 2**31), "neighbour id"),
    (lambda p: _corrupt(p, 96, "<H", 60000), "longer than its capacity"),
    (lambda p: _corrupt(p, 80, "<d", float("nan")), "mult"),
])
def test_corrupt_files_raise_value_error(tmp_path, change, match):
    _, _, path = _hnswlib_index(tmp_path, n=300)
    change(path)
    with pytest.raises(ValueError, match=match):
        read_index(path)


def test_wrong_dim_and_missing_file(tmp_path):
    _, _, path = _hnswlib_index(tmp_path, n=100)
    with pytest.raises(ValueError, match="dim: the file holds 16-d vectors, got dim=8"):
        read_index(path, dim=8)
    with pytest.raises(FileNotFoundError):
        read_index(tmp_path / "none.bin")


def test_write_is_atomic(tmp_path, monkeypatch):
    _, _, path = _hnswlib_index(tmp_path, n=100)
    f = read_index(path)
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    import labkit.hnsw.format as fmt

    def crash(src, dst):  # the process dies between writing the temp file and the rename
        raise OSError("disk gone")
    monkeypatch.setattr(fmt.os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        write_index(f, target)
    assert target.read_bytes() == b"old" and not list(tmp_path.glob(".out.bin*"))


def test_header_is_96_bytes():
    assert HEADER.size == 96


def _rewritten(path, **changes):
    """The index at `path` with fields of its HNSWFile changed, written without checks."""
    import dataclasses

    from labkit.hnsw.format import HNSWFile
    f = read_index(path)
    fields = {x.name: getattr(f, x.name) for x in dataclasses.fields(f)}
    fields = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in fields.items()}
    for k, change in changes.items():
        change(fields) if callable(change) else fields.__setitem__(k, change)
    out = path.with_name("changed.bin")
    write_index(HNSWFile._trusted(**fields), out)
    return out, f


def _upper_link_to_level0(F):
    levels = F["levels"]
    F["links_up"][0, 0] = int(np.flatnonzero(levels == 0)[-1])  # past every upper-level list


@pytest.mark.parametrize("change, match", [
    ({"links_up": _upper_link_to_level0}, "level-l link to a node on level l or above"),
    ({"links0": lambda F: F["links0"].__setitem__((3, 0), 3)}, "no node linked to itself"),
    ({"links0": lambda F: F["links0"].__setitem__((3, 1), F["links0"][3, 0])}, "no neighbour repeated"),
    ({"labels": lambda F: F["labels"].__setitem__(1, F["labels"][0])}, "distinct labels"),
    ({"labels": lambda F: F["labels"].__setitem__(1, 2**64 - 1)}, "below 2\\*\\*63"),
    ({"enterpoint": lambda F: F.__setitem__("enterpoint", int(np.flatnonzero(F["levels"] == 0)[0]))}, "entry point"),
    ({"vectors": lambda F: F["vectors"].__setitem__((0, 0), np.nan)}, "finite"),
])
def test_graph_invariants_are_checked_on_load(tmp_path, change, match):
    """What hnswlib's checkIntegrity asserts (hnswalg.h at v0.8.0): a file breaking it is refused
    (a level-l link to a node without level l made the numba search read another node's list)."""
    from labkit.hnsw import HNSW
    _, _, path = _hnswlib_index(tmp_path, n=300)
    bad, _ = _rewritten(path, **change)
    for load in (read_index, HNSW.load):
        with pytest.raises(ValueError, match=match) as e:
            load(bad)
        assert str(bad) in str(e.value)


def test_header_values_are_checked_before_allocating(tmp_path):
    """max_elements is what hnswlib would allocate on load: labkit allocates what the file holds
    and writes the declared value back; values HNSW cannot hold name the path."""
    import resource

    from labkit.hnsw import HNSW
    _, X, path = _hnswlib_index(tmp_path, n=300)
    _corrupt(path, 8, "<Q", 2**40)  # max_elements: 2^40 x 16-d float32 would be 64 TiB
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    idx = HNSW.load(path)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB
    assert idx.max_elements == 300 and len(idx) == 300
    idx.save(tmp_path / "again.bin")
    assert (tmp_path / "again.bin").read_bytes() == path.read_bytes()
    _corrupt(path, 72, "<Q", 1)  # M = 1: a file hnswlib cannot make (mult = 1/ln 1)
    with pytest.raises(ValueError, match="mult|M") as e:
        HNSW.load(path)
    assert str(path) in str(e.value)
    with pytest.raises(ValueError, match="a directory"):
        read_index(tmp_path)


def test_empty_hnswlib_index_reads_and_writes_back(tmp_path):
    from labkit.hnsw import HNSW
    p = hnswlib.Index(space="l2", dim=8)
    p.init_index(max_elements=10, M=8)
    p.save_index(str(tmp_path / "empty.bin"))
    f = read_index(tmp_path / "empty.bin")
    assert f.n == 0 and f.dim == 8
    write_index(f, tmp_path / "again.bin")
    assert (tmp_path / "again.bin").read_bytes() == (tmp_path / "empty.bin").read_bytes()
    idx = HNSW.load(tmp_path / "empty.bin")
    idx.add(np.eye(8, dtype=np.float32))
    assert idx.search(np.eye(8, dtype=np.float32)[:2], k=1)[0].ravel().tolist() == [0, 1]
