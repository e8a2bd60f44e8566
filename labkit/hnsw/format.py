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
checks every size in the header against the file length before trusting it, and every id and count
against N and the list capacities, so a truncated or corrupt file gives a ValueError, never a crash.
Unused slots beyond a list's count are kept as they are, so a file read and written back is identical.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labkit.validate import check_array, check_float, check_instance, check_int, fail

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
        _validate(self)

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
    raise ValueError(f"index file {path}: {what} (truncated, corrupt, or not an hnswlib index)")


def read_index(path: str | os.PathLike, dim: int | None = None) -> HNSWFile:
    """Parse an hnswlib index file (float32 vectors). `dim`, when given, must match the file."""
    check_instance("path", path, (str, os.PathLike), "a file path (str or os.PathLike)")
    if dim is not None:
        dim = check_int("dim", dim, low=1)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no index file at {path}")
    buf = path.read_bytes()
    size = len(buf)
    if size < HEADER.size:
        _fail(path, f"{size} bytes is shorter than the 96-byte header")
    (off0, max_elements, n, rec, label_off, data_off, maxlevel, enter, maxM, maxM0, M, mult,
     efc) = HEADER.unpack_from(buf, 0)
    if off0 != 0:
        _fail(path, f"offsetLevel0 is {off0}, expected 0")
    if not (0 < maxM <= 10_000 and 0 < maxM0 <= 20_000 and 0 < M <= 10_000):
        _fail(path, f"link capacities maxM={maxM}, maxM0={maxM0}, M={M} out of range")
    if data_off != 4 + 4 * maxM0:
        _fail(path, f"offsetData {data_off} != 4 + 4*maxM0 = {4 + 4 * maxM0}")
    if label_off <= data_off or (label_off - data_off) % 4:
        _fail(path, f"label_offset {label_off} does not leave whole float32 vectors after offsetData {data_off}")
    file_dim = (label_off - data_off) // 4
    if rec != label_off + 8:
        _fail(path, f"size_data_per_element {rec} != label_offset + 8 = {label_off + 8}")
    if dim is not None and dim != file_dim:
        raise ValueError(f"dim: the file holds {file_dim}-d vectors, got dim={dim}")
    if n > max_elements:
        _fail(path, f"element count {n} exceeds max_elements {max_elements}")
    if HEADER.size + n * rec + 4 * n > size:  # before allocating anything of size n
        _fail(path, f"{n} elements of {rec} bytes need more than the file's {size} bytes")
    if not np.isfinite(mult) or mult <= 0:
        _fail(path, f"mult {mult} is not a positive number")

    rec_dtype = np.dtype([("count", "<u2"), ("flags", "u1"), ("spare", "u1"), ("links", "<u4", (maxM0,)),
                          ("vector", "<f4", (file_dim,)), ("label", "<u8")])
    assert rec_dtype.itemsize == rec
    level0 = np.frombuffer(buf, rec_dtype, count=n, offset=HEADER.size)
    pos = HEADER.size + n * rec

    block = 4 + 4 * maxM
    levels = np.zeros(n, np.int32)
    block_start = np.zeros(n, np.int64)
    starts = []  # byte offsets of each node's first block
    b = 0
    for i in range(n):
        if pos + 4 > size:
            _fail(path, f"ends inside the upper-level table at node {i}")
        (nbytes,) = struct.unpack_from("<I", buf, pos)
        pos += 4
        if nbytes % block:
            _fail(path, f"node {i}: link list size {nbytes} is not a multiple of {block}")
        if pos + nbytes > size:
            _fail(path, f"node {i}: link list of {nbytes} bytes runs past the end of the file")
        levels[i] = nbytes // block
        block_start[i] = b
        starts.append(pos)
        b += levels[i]
        pos += nbytes
    if pos != size:
        _fail(path, f"{size - pos} bytes left over after the last node")
    up_dtype = np.dtype([("count", "<u2"), ("spare", "<u2"), ("links", "<u4", (maxM,))])
    up = np.empty(b, up_dtype)
    for i in range(n):
        if levels[i]:
            up[block_start[i]: block_start[i] + levels[i]] = np.frombuffer(buf, up_dtype, count=int(levels[i]),
                                                                           offset=starts[i])
    f = HNSWFile._trusted(M=int(M), maxM=int(maxM), maxM0=int(maxM0), mult=float(mult), ef_construction=int(efc),
                 max_elements=int(max_elements), maxlevel=int(maxlevel), enterpoint=int(enter),
                 vectors=level0["vector"].copy(), labels=level0["label"].copy(), levels=levels,
                 flags0=level0["flags"].copy(), spare0=level0["spare"].copy(), count0=level0["count"].copy(),
                 links0=level0["links"].copy(), block_start=block_start, count_up=up["count"].copy(),
                 spare_up=up["spare"].copy(), links_up=up["links"].copy())
    try:
        _validate(f)
    except ValueError as e:
        _fail(path, str(e))
    return f


def _validate(f: HNSWFile) -> None:
    """Every field of f: types, shapes against n = len(labels) and B = levels.sum(), ids and
    counts within bounds, the entry point on the top level. Converts array-likes to arrays."""
    f.M = check_int("M", f.M, low=1, high=10_000)
    f.maxM = check_int("maxM", f.maxM, low=1, high=10_000)
    f.maxM0 = check_int("maxM0", f.maxM0, low=1, high=20_000)
    f.mult = check_float("mult", f.mult, low=0.0, low_open=True)
    f.ef_construction = check_int("ef_construction", f.ef_construction, low=0)
    f.max_elements = check_int("max_elements", f.max_elements, low=0)
    f.maxlevel = check_int("maxlevel", f.maxlevel, low=0)
    f.enterpoint = check_int("enterpoint", f.enterpoint, low=0)
    f.labels = check_array("labels", f.labels, ndim=1, kind="integer")
    n = len(f.labels)
    f.vectors = check_array("vectors", f.vectors, ndim=2)
    if f.vectors.shape[0] != n or f.vectors.shape[1] < 1:
        raise fail("vectors", f"shape ({n}, dim >= 1), one row per label (n = len(labels) = {n})",
                   f"shape {f.vectors.shape}", described=True)
    rows = {"levels": (n,), "flags0": (n,), "spare0": (n,), "count0": (n,), "links0": (n, f.maxM0),
            "block_start": (n,)}
    for name, shape in rows.items():
        a = check_array(name, getattr(f, name), ndim=len(shape), kind="integer")
        if a.shape != shape:
            raise fail(name, f"shape {shape} (n = len(labels) = {n}, maxM0 = {f.maxM0})", f"shape {a.shape}",
                       described=True)
        setattr(f, name, a)
    if (f.levels < 0).any():
        raise fail("levels", "non-negative levels", int(f.levels.min()))
    B = int(f.levels.sum())
    for name, shape in {"count_up": (B,), "spare_up": (B,), "links_up": (B, f.maxM)}.items():
        a = check_array(name, getattr(f, name), ndim=len(shape), kind="integer")
        if a.shape != shape:
            raise fail(name, f"shape {shape} (B = levels.sum() = {B} upper-level lists, maxM = {f.maxM})",
                       f"shape {a.shape}", described=True)
        setattr(f, name, a)
    starts = np.concatenate([[0], np.cumsum(f.levels)[:-1]]) if n else np.zeros(0, np.int64)
    if not np.array_equal(f.block_start, starts):
        raise fail("block_start", "each node's first upper-level row, the running sum of levels",
                   "other rows", described=True)
    if n > f.max_elements:
        raise fail("max_elements", f"at least n = len(labels) = {n}", f.max_elements)
    if n == 0:
        return
    if f.enterpoint >= n:
        raise fail("enterpoint", f"the entry point to be one of the {n} nodes", f.enterpoint)
    if f.maxlevel != int(f.levels.max()) or f.levels[f.enterpoint] != f.maxlevel:
        raise fail("maxlevel", f"the top level, max(levels) = {int(f.levels.max())}, with the entry point on it",
                   f"maxlevel {f.maxlevel} disagreeing with the node levels", described=True)
    for name, cap in (("count0", f.maxM0), ("count_up", f.maxM)):
        c = getattr(f, name)
        if len(c) and ((c < 0) | (c > cap)).any():
            raise fail(name, f"counts in [0, {cap}]", f"{int(c.max())}: a neighbour list is longer than its capacity",
                       described=True)
    for name, links, count in (("links0", f.links0, f.count0), ("links_up", f.links_up, f.count_up)):
        live = np.arange(links.shape[1])[None, :] < count[:, None]
        ids = links[live]
        if ids.size and (ids.min() < 0 or ids.max() >= n):
            raise fail(name, f"every neighbour id one of the {n} nodes", int(ids.max()))
    if f.vectors.dtype.kind not in "biuf" or not np.isfinite(f.vectors).all():
        raise fail("vectors", "finite numbers", "a vector holding NaN or inf", described=True)


def write_index(f: HNSWFile, path: str | os.PathLike) -> None:
    """Write `f` in hnswlib's format, atomically (a temp file in the same folder, then rename)."""
    check_instance("f", f, HNSWFile)
    check_instance("path", path, (str, os.PathLike), "a file path (str or os.PathLike)")
    path = Path(path)
    n, dim = f.n, f.dim
    rec = 4 + 4 * f.maxM0 + 4 * dim + 8
    header = HEADER.pack(0, max(f.max_elements, n), n, rec, rec - 8, 4 + 4 * f.maxM0, f.maxlevel,
                         f.enterpoint if n else 0, f.maxM, f.maxM0, f.M, f.mult, f.ef_construction)
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
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as out:
            for p in parts:
                out.write(p)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
