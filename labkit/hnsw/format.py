"""hnswlib's `save_index` file format, read and written byte for byte.

Layout (hnswlib tag v0.8.0, commit 3f3429661187e4c24a490a0f148fc6bc89042b3d, `hnswlib/hnswalg.h`
`saveIndex` L685 / `loadIndex` L716; little-endian x86-64 PODs, no magic number):

    header, 96 bytes: offsetLevel0 u64 (=0), max_elements u64, cur_element_count N u64,
      size_data_per_element u64 (= 4 + 4*maxM0 + 4*dim + 8), label_offset u64 (= 4 + 4*maxM0 + 4*dim),
      offsetData u64 (= 4 + 4*maxM0), maxlevel i32, enterpoint_node u32, maxM u64, maxM0 u64, M u64,
      mult f64, ef_construction u64
    level 0, N records: u16 count, u8 flags (bit 0: deleted), u8 unused, maxM0 x u32 neighbour ids,
      dim x f32 vector, u64 label
    upper levels, per node: u32 linkListSize (bytes; 0 at level 0), then level blocks of
      4 + 4*maxM bytes: u16 count, u16 unused, maxM x u32 ids

Space and dim are not stored: dim = (label_offset - offsetData) / 4 for float32 vectors. The reader
trusts nothing: every header value is checked against hnswlib's constraints and the file's length
before anything of that size is allocated, and the graph's invariants (hnswlib's `checkIntegrity`,
plus each level-l link pointing at a node that has level l, which the search relies on) are checked
with whole-array numpy operations, so a truncated or corrupt file gives a ValueError naming the path,
never a crash or a search over garbage (benchmarks/corrupt_files.py, tests/test_hnsw_fuzz.py).
Unused slots beyond a list's count are kept as they are, so a file read and written back is identical.
"""

from __future__ import annotations

import bisect
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labkit.atomic import atomic_write
from labkit.hnsw.integrity import MAX_DIM, MAX_EF_CONSTRUCTION, MAX_MULT, check_fields, check_graph
from labkit.validate import check_instance, check_int

HEADER = struct.Struct("<QQQQQQiIQQQdQ")
assert HEADER.size == 96
DELETE_MARK = 0x01


@dataclass(eq=False)
class HNSWFile:
    """The raw contents of an hnswlib index file (internal ids are row numbers).

    vectors (N, dim) float32; labels (N,) uint64; levels (N,) int32; flags0 (N,) uint8;
    count0 (N,) uint16 and links0 (N, maxM0) uint32 (layer 0); block_start (N,) int64 and
    count_up (B,) uint16, links_up (B, maxM) uint32: node i's level-l list (l >= 1) is row
    block_start[i] + l - 1 (B = sum of levels). spare0 / spare_up keep the unused bytes.
    Made by hand, every field is checked (types, shapes against n = len(labels), ids and counts
    within bounds): a ValueError / TypeError names the field.
    """

    M: int
    maxM: int
    maxM0: int
    mult: float
    ef_construction: int
    max_elements: int
    maxlevel: int
    enterpoint: int
    vectors: np.ndarray
    labels: np.ndarray
    levels: np.ndarray
    flags0: np.ndarray
    spare0: np.ndarray
    count0: np.ndarray
    links0: np.ndarray
    block_start: np.ndarray
    count_up: np.ndarray
    spare_up: np.ndarray
    links_up: np.ndarray

    def __post_init__(self) -> None:
        check_fields(self)

    @classmethod
    def _trusted(cls, **fields) -> "HNSWFile":
        """Made from arrays already known to be consistent (an HNSW's own storage): no checks."""
        f = object.__new__(cls)
        f.__dict__.update(fields)
        return f

    @property
    def n(self) -> int:
        return int(len(self.labels))

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def deleted(self) -> np.ndarray:
        return (self.flags0 & DELETE_MARK).astype(bool)

    @property
    def nbytes(self) -> int:
        """Size of the file `write_index` writes: 96 + N (4 + 4 maxM0 + 4 dim + 8) + 4 N + B (4 + 4 maxM)."""
        return 96 + self.n * (4 + 4 * self.maxM0 + 4 * self.dim + 8) + 4 * self.n + \
            int(self.levels.sum()) * (4 + 4 * self.maxM)

    def neighbors(self, node: int, level: int) -> np.ndarray:
        """Internal ids of `node`'s neighbours on `level` (int64)."""
        if level == 0:
            return self.links0[node, : self.count0[node]].astype(np.int64)
        if not 1 <= level <= self.levels[node]:
            raise ValueError(f"level: node {node} has levels 0..{self.levels[node]}, got {level}")
        row = self.block_start[node] + level - 1
        return self.links_up[row, : self.count_up[row]].astype(np.int64)

    def layers(self) -> list[dict]:
        """Per layer l = 0..maxlevel: {"level", "nodes" (internal ids on the layer), "indptr",
        "indices"} — the adjacency as CSR over `nodes` order, neighbour ids internal."""
        out = []
        for level in range(self.maxlevel + 1):
            nodes = np.flatnonzero(self.levels >= level).astype(np.int64)
            lists = [self.neighbors(int(v), level) for v in nodes]
            indptr = np.zeros(len(nodes) + 1, np.int64)
            indptr[1:] = np.cumsum([len(x) for x in lists])
            indices = np.concatenate(lists) if lists else np.zeros(0, np.int64)
            out.append({"level": level, "nodes": nodes, "indptr": indptr, "indices": indices})
        return out




def _fail(path, what):
    raise ValueError(f"path: expected an hnswlib index file, got {str(path)!r}: {what} "
                     "(truncated, corrupt, or not an hnswlib index)")


def read_index(path: str | os.PathLike, dim: int | None = None) -> HNSWFile:
    """Parse an hnswlib index file (float32 vectors). `dim`, when given, must match the file.

    Nothing in the file is trusted: every header field is checked against the file's length before
    anything of its size is allocated, and the graph's invariants (hnswlib's `checkIntegrity`,
    hnswalg.h at v0.8.0) are checked before the index is returned, so a truncated, corrupt or
    foreign file raises a ValueError naming the path and what is wrong."""
    check_instance("path", path, (str, os.PathLike), "a file path (str or os.PathLike)")
    if dim is not None:
        dim = check_int("dim", dim, low=1)
    path = Path(path)
    if path.is_dir():
        _fail(path, "a directory")
    if not path.is_file():
        raise FileNotFoundError(f"path: no index file at {path}")
    with open(path, "rb") as fh:  # one open file: a concurrent atomic save cannot swap it mid-read
        size = os.fstat(fh.fileno()).st_size
        head = fh.read(HEADER.size)
        if size < HEADER.size or len(head) < HEADER.size:
            _fail(path, f"{size} bytes is shorter than the 96-byte header")
        fields = HEADER.unpack(head)
        n, rec, file_dim = _check_header(path, size, fields, dim)
        buf = bytearray(size)  # bounded by the file's own length, checked against the header above
        view = memoryview(buf)
        view[:HEADER.size] = head
        got = HEADER.size + (fh.readinto(view[HEADER.size:]) or 0)
    if got != size:
        _fail(path, f"read {got} of its {size} bytes (the file changed while it was read)")
    (_, max_elements, _, _, _, _, maxlevel, enter, maxM, maxM0, M, mult, efc) = fields

    # level 0: n records of rec bytes, viewed as rows of 32-bit words (rec is a multiple of 4)
    words0 = np.frombuffer(buf, "<u4", count=n * rec // 4, offset=HEADER.size).reshape(n, rec // 4)
    head0 = words0[:, 0]
    count0 = (head0 & 0xFFFF).astype(np.uint16)
    flags0 = ((head0 >> 16) & 0xFF).astype(np.uint8)
    spare0 = (head0 >> 24).astype(np.uint8)
    links0 = np.ascontiguousarray(words0[:, 1: 1 + maxM0])
    vectors = np.ascontiguousarray(words0[:, 1 + maxM0: 1 + maxM0 + file_dim]).view("<f4")
    labels = np.ascontiguousarray(words0[:, rec // 4 - 2:]).view("<u8")[:, 0]

    levels, block_start, count_up, spare_up, links_up = _read_upper(path, buf, HEADER.size + n * rec, n, maxM)
    if n == 0:  # hnswlib saves an empty index with maxlevel -1 and entry point -1 (as u32)
        maxlevel, enter = 0, 0
    f = HNSWFile._trusted(M=int(M), maxM=int(maxM), maxM0=int(maxM0), mult=float(mult), ef_construction=int(efc),
                          max_elements=int(max_elements), maxlevel=int(maxlevel), enterpoint=int(enter),
                          vectors=vectors, labels=labels, levels=levels, flags0=flags0, spare0=spare0,
                          count0=count0, links0=links0, block_start=block_start, count_up=count_up,
                          spare_up=spare_up, links_up=links_up)
    try:
        check_graph(f)
    except ValueError as e:
        _fail(path, str(e))
    return f


def _check_header(path, size, fields, dim):
    """Every header value against hnswlib's own constraints and the file's length, before any
    allocation of a size the header gives. Returns (n, rec, dim)."""
    (off0, max_elements, n, rec, label_off, data_off, maxlevel, enter, maxM, maxM0, M, mult, efc) = fields
    if off0 != 0:
        _fail(path, f"offsetLevel0 is {off0}, expected 0")
    if not (1 <= M <= 10_000 and M <= maxM <= 10_000 and maxM <= maxM0 <= 20_000):
        _fail(path, f"link capacities M={M}, maxM={maxM}, maxM0={maxM0} out of range "
                    "(hnswlib: 1 <= M <= maxM <= maxM0, M <= 10000)")
    if data_off != 4 + 4 * maxM0:
        _fail(path, f"offsetData {data_off} != 4 + 4*maxM0 = {4 + 4 * maxM0}")
    if label_off <= data_off or (label_off - data_off) % 4:
        _fail(path, f"label_offset {label_off} does not leave whole float32 vectors after offsetData {data_off}")
    file_dim = (label_off - data_off) // 4
    if file_dim > MAX_DIM:
        _fail(path, f"label_offset {label_off} declares {file_dim}-d vectors, more than {MAX_DIM}")
    if rec != label_off + 8:
        _fail(path, f"size_data_per_element {rec} != label_offset + 8 = {label_off + 8}")
    if dim is not None and dim != file_dim:
        raise ValueError(f"dim: the file holds {file_dim}-d vectors, got dim={dim}")
    if n > max_elements:
        _fail(path, f"element count {n} exceeds max_elements {max_elements}")
    if HEADER.size + n * (rec + 4) > size:  # before allocating anything of size n
        _fail(path, f"{n} elements of {rec} bytes need more than the file's {size} bytes")
    if not (np.isfinite(mult) and 0 < mult <= MAX_MULT * (1 + 1e-12)):
        _fail(path, f"mult {mult} is not in (0, 1/ln 2], hnswlib's 1/ln(M) for M >= 2")
    if not 1 <= efc <= MAX_EF_CONSTRUCTION:
        _fail(path, f"ef_construction {efc} is not in [1, {MAX_EF_CONSTRUCTION}]")
    if n == 0:
        if (maxlevel, enter) not in ((-1, 0xFFFFFFFF), (0, 0)):
            _fail(path, f"an empty index with maxlevel {maxlevel} and entry point {enter} "
                        "(hnswlib writes -1 and 0xFFFFFFFF)")
    elif not (0 <= maxlevel and enter < n):
        _fail(path, f"maxlevel {maxlevel} / entry point {enter} is not a level / one of the {n} nodes")
    return n, rec, file_dim


def _read_upper(path, buf, pos0, n, maxM):
    """The upper-level table: per node a u32 byte count, then that many bytes of 4 + 4 maxM byte
    blocks. Runs of level-0 nodes (count 0) are skipped by a search over the non-zero words, so
    the Python loop runs once per node with upper levels (about n / M of them)."""
    tail = len(buf) - pos0
    if tail % 4:
        _fail(path, f"the upper-level table is {tail} bytes, not whole 32-bit words (the file ends inside one, "
                    "or has bytes left over)")
    T = np.frombuffer(buf, "<u4", count=tail // 4, offset=pos0)
    W = 1 + maxM  # words per block
    nonzero = np.flatnonzero(T).tolist()  # bisect on a list: ~0.3 us a step, np.searchsorted ~5 us
    nodes, starts, counts = [], [], []
    p = i = k = 0
    while i < n:
        k = bisect.bisect_left(nonzero, p, k)
        q = nonzero[k] if k < len(nonzero) else len(T)
        if q - p >= n - i:  # every remaining node is on level 0 only
            p, i = p + n - i, n
            break
        i, p = i + q - p, q
        if p >= len(T):
            break  # the file ends before node i's link list size: reported below
        nbytes = int(T[p])
        if nbytes % (4 * W):
            _fail(path, f"node {i}: link list size {nbytes} is not a multiple of {4 * W}")
        L = nbytes // (4 * W)
        if p + 1 + L * W > len(T):
            _fail(path, f"node {i}: link list of {nbytes} bytes runs past the end of the file")
        nodes.append(i)
        starts.append(p + 1)
        counts.append(L)
        p, i = p + 1 + L * W, i + 1
    if p > len(T) or i < n:
        _fail(path, f"ends inside the upper-level table ({n} link list sizes need {4 * n} bytes)")
    if p != len(T):
        _fail(path, f"{4 * (len(T) - p)} bytes left over after the last node")
    levels = np.zeros(n, np.int32)
    levels[np.asarray(nodes, np.int64)] = counts
    block_start = np.zeros(n, np.int64)
    if n:
        block_start[1:] = np.cumsum(levels[:-1], dtype=np.int64)
    counts = np.asarray(counts, np.int64)
    B = int(counts.sum())
    first = np.repeat(np.asarray(starts, np.int64), counts)          # each row's node's first word
    within = np.arange(B, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    rows = T[(first + within * W)[:, None] + np.arange(W, dtype=np.int64)]
    count_up = (rows[:, 0] & 0xFFFF).astype(np.uint16)
    spare_up = (rows[:, 0] >> 16).astype(np.uint16)
    return levels, block_start, count_up, spare_up, np.ascontiguousarray(rows[:, 1:])


def write_index(f: HNSWFile, path: str | os.PathLike) -> None:
    """Write `f` in hnswlib's format, atomically (`labkit.atomic.atomic_write`: a temporary of this
    writer's own beside `path`, fsync'ed, then renamed over it). An empty index is written as
    hnswlib writes one (maxlevel -1, entry point 0xFFFFFFFF)."""
    check_instance("f", f, HNSWFile)
    check_instance("path", path, (str, os.PathLike), "a file path (str or os.PathLike)")
    path = Path(path)
    n, dim = f.n, f.dim
    rec = 4 + 4 * f.maxM0 + 4 * dim + 8
    header = HEADER.pack(0, max(f.max_elements, n), n, rec, rec - 8, 4 + 4 * f.maxM0, f.maxlevel if n else -1,
                         f.enterpoint if n else 0xFFFFFFFF, f.maxM, f.maxM0, f.M, f.mult, f.ef_construction)
    rec_dtype = np.dtype([("count", "<u2"), ("flags", "u1"), ("spare", "u1"), ("links", "<u4", (f.maxM0,)),
                          ("vector", "<f4", (dim,)), ("label", "<u8")])
    level0 = np.zeros(n, rec_dtype)
    level0["count"], level0["flags"], level0["spare"] = f.count0, f.flags0, f.spare0
    level0["links"], level0["vector"], level0["label"] = f.links0, f.vectors, f.labels
    up_dtype = np.dtype([("count", "<u2"), ("spare", "<u2"), ("links", "<u4", (f.maxM,))])
    up = np.zeros(len(f.count_up), up_dtype)
    up["count"], up["spare"], up["links"] = f.count_up, f.spare_up, f.links_up
    parts = [header, level0.tobytes()]
    for i in range(n):
        lv = int(f.levels[i])
        parts.append(struct.pack("<I", lv * up_dtype.itemsize))
        if lv:
            parts.append(up[f.block_start[i]: f.block_start[i] + lv].tobytes())
    with atomic_write(path) as out:
        for p in parts:
            out.write(p)
