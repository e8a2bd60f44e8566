"""The invariants of an hnswlib graph, checked before labkit searches or extends one.

`check_fields` checks a hand-made `HNSWFile` (types and shapes of every field); `check_graph` the
invariants hnswlib's `checkIntegrity` asserts (nmslib/hnswlib v0.8.0, commit
3f3429661187e4c24a490a0f148fc6bc89042b3d, `hnswlib/hnswalg.h`) and its search relies on. Both use
whole-array numpy operations, so checking a 100k-element index costs tens of milliseconds.
"""

from __future__ import annotations

import numpy as np

from labkit.validate import check_array, check_float, check_int, fail

MAX_EF_CONSTRUCTION = 1 << 20  # `add` allocates buffers of this size (also after `load`)
MAX_DIM = 1 << 24              # 16,777,216 floats per vector: bounds a declared dim before anything is allocated
MAX_MULT = 1.0 / np.log(2.0)   # hnswlib's mult = 1 / ln(M) with M >= 2 (hnswalg.h, HierarchicalNSW())


def check_fields(f) -> None:
    """Every field of a hand-made f: types, shapes against n = len(labels) and B = levels.sum(),
    then the graph's invariants (`check_graph`). Converts array-likes to arrays."""
    f.M = check_int("M", f.M, low=1, high=10_000)
    f.maxM = check_int("maxM", f.maxM, low=f.M, high=10_000)
    f.maxM0 = check_int("maxM0", f.maxM0, low=f.maxM, high=20_000)
    f.mult = check_float("mult", f.mult, low=0.0, high=MAX_MULT * (1 + 1e-12), low_open=True)
    f.ef_construction = check_int("ef_construction", f.ef_construction, low=1, high=MAX_EF_CONSTRUCTION)
    f.max_elements = check_int("max_elements", f.max_elements, low=0)
    f.maxlevel = check_int("maxlevel", f.maxlevel, low=0)
    f.enterpoint = check_int("enterpoint", f.enterpoint, low=0)
    f.labels = check_array("labels", f.labels, ndim=1, kind="integer")
    n = len(f.labels)
    f.vectors = check_array("vectors", f.vectors, ndim=2, dtype=np.float32)  # as stored: finite in float32
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
    if f.vectors.dtype.kind not in "biuf":
        raise fail("vectors", "real numbers", f.vectors)
    check_graph(f)


def check_graph(f) -> None:
    """The invariants hnswlib's `checkIntegrity` asserts (hnswalg.h at v0.8.0) and its search relies
    on, checked with whole-array numpy operations: the entry point on the top level; each list's
    count within its capacity (maxM0 on layer 0, maxM above); every live link an existing node, not
    the node itself, not repeated in the list, and on layer l a node whose level is >= l (the
    search reads that node's level-l list next); labels distinct and int64; vectors finite."""
    n = len(f.labels)
    if n > f.max_elements:
        raise fail("max_elements", f"at least n = len(labels) = {n}", f.max_elements)
    if n == 0:
        return
    levels = f.levels.astype(np.int64, copy=False)
    top = int(levels.max())
    if not 0 <= f.enterpoint < n:
        raise fail("enterpoint", f"the entry point to be one of the {n} nodes", f.enterpoint)
    if f.maxlevel != top or levels[f.enterpoint] != top:
        raise fail("maxlevel", f"the top level, max(levels) = {top}, with the entry point on it",
                   f"maxlevel {f.maxlevel} and the entry point on level {int(levels[f.enterpoint])}", described=True)
    owner_up = np.repeat(np.arange(n, dtype=np.int64), levels)            # node of each upper row
    level_up = np.arange(len(owner_up), dtype=np.int64) - np.repeat(f.block_start, levels) + 1
    for name, cname, links, count, cap, owner, level in (
            ("links0", "count0", f.links0, f.count0, f.maxM0, np.arange(n, dtype=np.int64), None),
            ("links_up", "count_up", f.links_up, f.count_up, f.maxM, owner_up, level_up)):
        if len(count) and (count.max() > cap or count.min() < 0):
            bad = int(count.max()) if count.max() > cap else int(count.min())
            raise fail(cname, f"counts in [0, {cap}]", f"{bad}: a neighbour list is longer than its capacity",
                       described=True)
        if not links.size:
            continue
        if links.dtype.itemsize < 4:
            links = links.astype(np.int64)
        cols = np.arange(links.shape[1])
        live = cols[None, :] < count[:, None]
        out = live & (links >= n)
        if links.dtype.kind == "i":
            out |= live & (links < 0)
        if out.any():
            r, c = np.argwhere(out)[0]
            raise fail(name, f"every neighbour id one of the {n} nodes", int(links[r, c]))
        selfs = live & (links == owner[:, None].astype(links.dtype))
        if selfs.any():
            r = int(np.argwhere(selfs)[0][0])
            raise fail(name, "no node linked to itself (hnswlib checkIntegrity)",
                       f"node {int(owner[r])} in its own list", described=True)
        if level is not None:
            low = live & (levels[np.where(live, links, 0)] < level[:, None])
            if low.any():
                r, c = np.argwhere(low)[0]
                t = int(links[r, c])
                raise fail(name, "every level-l link to a node on level l or above",
                           f"node {int(owner[r])} linking on level {int(level[r])} to node {t} of level "
                           f"{int(levels[t])}", described=True)
        # repeats within a list: sort each row with its unused slots set to distinct ids >= n
        padded = np.where(live, links, (n + cols).astype(links.dtype))
        padded.sort(axis=1)
        if (padded[:, 1:] == padded[:, :-1]).any():
            raise fail(name, "no neighbour repeated within a list (hnswlib checkIntegrity)",
                       "a list holding one node twice", described=True)
    labels = np.asarray(f.labels)
    if labels.dtype == np.uint64 and int(labels.max()) > np.iinfo(np.int64).max:
        raise fail("labels", "labels below 2**63 (labkit labels are int64)", int(labels.max()))
    if labels.dtype.kind == "i" and labels.min() < 0:
        raise fail("labels", "non-negative labels", int(labels.min()))
    ordered = np.sort(labels)
    if (ordered[1:] == ordered[:-1]).any():
        raise fail("labels", "distinct labels (hnswlib's label_lookup_ maps one label to one element)",
                   f"label {int(ordered[1:][ordered[1:] == ordered[:-1]][0])} repeated", described=True)
    if not np.isfinite(f.vectors).all():
        raise fail("vectors", "finite numbers", "a vector holding NaN or inf", described=True)
