"""Corrupt hnswlib index files, loaded and searched by labkit and by hnswlib 0.8.0.

One valid index (hnswlib builds it: 300 x 16-d Gaussian vectors, M=8, ef_construction=50, seed 100)
and a battery of corrupt copies of its file: truncations, appended bytes, every header field set to
edge values, seeded bit flips over the whole file, and semantic corruption that keeps the file's
layout (links to nodes missing the level, ids out of range, counts over capacity, self links,
repeated links, entry point off the top level, NaN vectors, repeated or huge labels, ...).

Each (file, library) pair runs in a forked child with an address-space limit and a timeout: load
the file, search 50 queries (k=10, ef=50); labkit searches with both backends. The outcome is

  clean error      labkit: ValueError naming the path; hnswlib: any Python exception
  unclear error    labkit: another exception, or a message without the path
  identical        loaded, and every answer equals the uncorrupted file's (labels and distances)
  other valid      loaded, answers differ but are right for what the file holds: returned labels are
                   labels of the index, distinct in a row, distances equal the query's distance to
                   that label's stored vector, sorted (a bit flip in a vector makes a different,
                   well-formed index; no loader can tell)
  wrong            loaded, and some answer is not right for what the file holds (or labkit's fast and
                   readable backends disagree)
  crash            the child died of a signal
  hang             no answer within the timeout

    python benchmarks/corrupt_files.py [--timeout 20] [--details]
    python benchmarks/corrupt_files.py --load-n 100000   # also: load time of a large valid file

Exit status 1 when labkit has any unclear error, wrong answer, crash or hang.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import select
import signal
import struct
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import machine  # noqa: E402

# each case runs in a forked child: numba's OpenMP layer refuses fork after use, its workqueue layer is
# fork-safe (set before labkit, imported in the functions below, loads numba)
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

N, DIM, M, EFC, SEED, K, EF, NQ = 300, 16, 8, 50, 100, 10, 50, 50
OUTCOMES = ["clean error", "unclear error", "identical", "other valid", "wrong", "crash", "hang"]
FIELDS = [("offsetLevel0", 0, "<Q"), ("max_elements", 8, "<Q"), ("cur_element_count", 16, "<Q"),
          ("size_data_per_element", 24, "<Q"), ("label_offset", 32, "<Q"), ("offsetData", 40, "<Q"),
          ("maxlevel", 48, "<i"), ("enterpoint_node", 52, "<I"), ("maxM", 56, "<Q"), ("maxM0", 64, "<Q"),
          ("M", 72, "<Q"), ("mult", 80, "<d"), ("ef_construction", 88, "<Q")]


# -- the battery ---------------------------------------------------------------------------------------
def base_index(folder: Path):
    import hnswlib
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, DIM)).astype(np.float32)
    Q = rng.standard_normal((NQ, DIM)).astype(np.float32)
    p = hnswlib.Index(space="l2", dim=DIM)
    p.init_index(max_elements=N, M=M, ef_construction=EFC, random_seed=SEED)
    p.add_items(X, np.arange(N) * 3 + 7, num_threads=1)
    path = folder / "base.bin"
    p.save_index(str(path))
    return path, Q


def _header_values(fmt: str, v):
    if fmt == "<d":
        return [0.0, -1.0, float("nan"), float("inf"), 1e-300, 1e300, 2.0, 2 * v]
    if fmt == "<i":
        return [0, -1, v - 1, v + 1, 2**31 - 1, -2**31]
    if fmt == "<I":
        return [0, v + 1, N - 1, N, 2**32 - 1]
    return [0, 1, v - 1, v + 1, 2 * v, 2**31, 2**32, 2**40, 2**63, 2**64 - 1]


def _rewrite(f, **changes) -> bytes:
    """The file of HNSWFile `f` with fields replaced (no checks: write_index trusts its input)."""
    import dataclasses

    from labkit.hnsw.format import HNSWFile, write_index
    fields = {x.name: getattr(f, x.name) for x in dataclasses.fields(f)}
    fields = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in fields.items()}
    for k, fn in changes.items():
        fields[k] = fn(fields[k]) if callable(fn) else fn
    with tempfile.TemporaryDirectory() as d:
        write_index(HNSWFile._trusted(**fields), Path(d) / "x.bin")
        return (Path(d) / "x.bin").read_bytes()


def _set(arr_changes):
    return lambda a: ([a.__setitem__(idx, value) for idx, value in arr_changes], a)[1]


def semantic_cases(f) -> list[tuple[str, bytes]]:
    n, lv = f.n, f.levels.astype(np.int64)
    level0_last = int(np.flatnonzero(lv == 0)[-1])                 # its block_start is B: past the table
    top_row = int(f.block_start[f.enterpoint] + f.maxlevel - 1)    # the entry point's top-level list
    row1 = int(f.block_start[np.flatnonzero(lv >= 1)[0]])          # a level-1 list
    low_nodes = np.flatnonzero(lv < f.maxlevel)
    rng = np.random.default_rng(5)
    out = []
    for c in range(int(f.count_up[top_row])):
        out.append((f"top-level link {c} -> last level-0 node (row past the table)",
                    _rewrite(f, links_up=_set([((top_row, c), level0_last)]))))
    for j, t in enumerate(rng.choice(np.flatnonzero(lv == 0), 3, replace=False)):
        out.append((f"level-1 link -> level-0 node #{j}", _rewrite(f, links_up=_set([((row1, 0), int(t))]))))
    for j, t in enumerate(rng.choice(low_nodes, 3, replace=False)):
        out.append((f"top-level link -> node below the top #{j}", _rewrite(f, links_up=_set([((top_row, 0), int(t))]))))
    every_top = [((top_row, c), level0_last) for c in range(int(f.count_up[top_row]))]
    out += [
        ("top-level list all -> last level-0 node", _rewrite(f, links_up=_set(every_top))),
        ("level-0 link = n", _rewrite(f, links0=_set([((0, 0), n)]))),
        ("level-0 link = 2^32-1", _rewrite(f, links0=_set([((5, 1), 2**32 - 1)]))),
        ("upper link = n", _rewrite(f, links_up=_set([((top_row, 0), n)]))),
        ("count0 = maxM0 + 1", _rewrite(f, count0=_set([(3, f.maxM0 + 1)]))),
        ("count0 = 65535", _rewrite(f, count0=_set([(3, 65535)]))),
        ("count_up = maxM + 1", _rewrite(f, count_up=_set([(top_row, f.maxM + 1)]))),
        ("count_up = 65535", _rewrite(f, count_up=_set([(row1, 65535)]))),
        ("level-0 self link", _rewrite(f, links0=_set([((7, 0), 7)]))),
        ("upper self link", _rewrite(f, links_up=_set([((top_row, 0), f.enterpoint)]))),
        ("level-0 repeated link", _rewrite(f, links0=_set([((9, 1), int(f.links0[9, 0]))]))),
        ("upper repeated link", _rewrite(f, links_up=_set([((top_row, 1), int(f.links_up[top_row, 0]))]))),
        ("entry point below the top", _rewrite(f, enterpoint=int(low_nodes[0]))),
        ("entry point = a level-0 node at the end", _rewrite(f, enterpoint=level0_last)),
        ("maxlevel + 1", _rewrite(f, maxlevel=f.maxlevel + 1)),
        ("maxlevel - 1", _rewrite(f, maxlevel=f.maxlevel - 1)),
        ("NaN in a vector", _rewrite(f, vectors=_set([((4, 2), np.nan)]))),
        ("inf in a vector", _rewrite(f, vectors=_set([((4, 2), np.inf)]))),
        ("repeated label", _rewrite(f, labels=_set([(1, int(f.labels[0]))]))),
        ("label 2^63", _rewrite(f, labels=_set([(1, 2**63)]))),
        ("label 2^64-1", _rewrite(f, labels=_set([(1, 2**64 - 1)]))),
        ("every element deleted", _rewrite(f, flags0=lambda a: a | 1)),
        ("every level-0 list empty", _rewrite(f, count0=lambda a: a * 0)),
    ]
    return out


def battery(base: Path) -> list[tuple[str, str, bytes]]:
    from labkit.hnsw.format import read_index
    data = base.read_bytes()
    size = len(data)
    f = read_index(base)
    rec = 4 + 4 * f.maxM0 + 4 * f.dim + 8
    up0 = 96 + f.n * rec
    cases = []
    cuts = sorted({0, 1, 8, 48, 95, 96, 97, 96 + rec - 1, 96 + rec, 96 + rec + 1, up0 - 1, up0, up0 + 1, up0 + 3,
                   up0 + 4, size - 1, size - 2, size - 4, size - 4 - 4 * f.maxM}
                  | {int(x) for x in np.linspace(97, size - 1, 21)})
    cases += [("truncation", f"first {c} of {size} bytes", data[:c]) for c in cuts]
    for extra in (b"\0", b"\0" * 4, b"\0" * 8, b"\1\0\0\0", b"\xff" * 4096):
        cases.append(("appended bytes", f"+{len(extra)} bytes {extra[:4].hex()}", data + extra))
    for name, off, fmt in FIELDS:
        (v,) = struct.unpack_from(fmt, data, off)
        for new in _header_values(fmt, v):
            try:
                raw = struct.pack(fmt, new)
            except struct.error:
                continue
            if raw == data[off: off + len(raw)]:
                continue
            cases.append(("header field", f"{name} = {new!r}", data[:off] + raw + data[off + len(raw):]))
    rng = np.random.default_rng(2024)
    regions = [("header", 0, 96), ("level 0", 96, up0), ("upper levels", up0, size)]
    for region, lo, hi in regions:
        count = {"header": 40, "level 0": 60, "upper levels": 60}[region]
        for _ in range(count):
            pos, bit = int(rng.integers(lo, hi)), int(rng.integers(0, 8))
            b = bytearray(data)
            b[pos] ^= 1 << bit
            cases.append(("bit flip", f"{region}: byte {pos} bit {bit}", bytes(b)))
    cases += [("semantic", name, raw) for name, raw in semantic_cases(f)]
    return cases


# -- one case in a child -------------------------------------------------------------------------------
def _consistent(Q, labels, dists, vec_of, live_labels) -> tuple[bool, str]:
    """Right for what the index holds: known labels, distinct per row, distances equal the stored
    vectors' squared L2 to the query, sorted; -1 padding only at the end of a row."""
    live = set(int(x) for x in live_labels)
    for i in range(len(Q)):
        row = [int(x) for x in labels[i]]
        found = [x for x in row if x != -1 and x != 2**64 - 1]
        if any(x not in live for x in found):
            return False, f"query {i}: a label not in the index"
        if len(set(found)) != len(found):
            return False, f"query {i}: a label returned twice"
        if row[: len(found)] != found:
            return False, f"query {i}: padding before results"
        d = np.asarray(dists[i][: len(found)], np.float64)
        if len(found):
            true = ((vec_of(found).astype(np.float64) - Q[i].astype(np.float64)) ** 2).sum(1)
            if not np.allclose(d, true, rtol=1e-4, atol=1e-4):
                return False, f"query {i}: a distance that is not the label's distance"
            if (np.diff(d) < -1e-4 * max(1.0, float(np.abs(d).max()))).any():
                return False, f"query {i}: results out of order"
        if len(found) < min(K, len(live)) and len(found) == 0:
            return False, f"query {i}: no results from an index with live elements"
    return True, ""


def run_labkit(path: str, Q):
    from labkit.hnsw import HNSW
    try:
        idx = HNSW.load(path, space="l2")
        lf, df = idx.search(Q, k=K, ef=EF)
        idx.backend = "readable"
        lr, dr = idx.search(Q, k=K, ef=EF)
    except Exception as e:  # noqa: BLE001  (the outcome is the exception)
        clean = isinstance(e, ValueError) and path in str(e)
        return {"outcome": "clean error" if clean else "unclear error", "error": f"{type(e).__name__}: {e}"[:300]}
    s = idx.snapshot()
    if not (np.array_equal(lf, lr) and np.allclose(df, dr, rtol=1e-6)):
        return {"outcome": "wrong", "why": "fast and readable backends disagree", "labels": lf.tolist(),
                "dists": df.tolist()}
    row = {int(lab): i for i, lab in enumerate(s.labels)}
    ok, why = _consistent(Q, lf, df, lambda labs: s.vectors[[row[x] for x in labs]], s.labels[~s.deleted])
    return {"outcome": "loaded", "consistent": ok, "why": why, "labels": lf.tolist(), "dists": df.tolist()}


def run_hnswlib(path: str, Q):
    import hnswlib
    try:
        p = hnswlib.Index(space="l2", dim=DIM)
        p.load_index(path)
        p.set_ef(EF)
        L, D = p.knn_query(Q, k=K)
        ids = np.asarray(p.get_ids_list(), np.uint64)
    except Exception as e:  # noqa: BLE001
        return {"outcome": "clean error", "error": f"{type(e).__name__}: {e}"[:300]}
    try:
        ok, why = _consistent(Q, L, D, lambda labs: np.asarray(p.get_items(labs), np.float32), ids)
    except Exception as e:  # noqa: BLE001  (get_items of a label it returned failed)
        ok, why = False, f"get_items of a returned label: {type(e).__name__}: {e}"
    return {"outcome": "loaded", "consistent": ok, "why": why, "labels": L.astype(np.int64).tolist(),
            "dists": D.tolist()}


def _vm_bytes() -> int:
    status = Path("/proc/self/status").read_text().splitlines()
    return int(next(line.split()[1] for line in status if line.startswith("VmSize:"))) * 1024


def in_child(fn, path: str, Q, timeout: float, headroom: int) -> tuple[dict, int]:
    """fn(path, Q) in a forked child (address space limited to its size now + headroom);
    returns (result, peak RSS in KiB)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 0
        try:
            lim = _vm_bytes() + headroom
            resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
            out = json.dumps(fn(path, Q)).encode()
            with os.fdopen(w, "wb") as fh:
                fh.write(out)
        except BaseException:  # noqa: BLE001
            code = 3
        os._exit(code)
    os.close(w)
    chunks, deadline = [], time.monotonic() + timeout
    with os.fdopen(r, "rb") as fh:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fh], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                os.wait4(pid, 0)
                return {"outcome": "hang"}, 0
            chunk = os.read(fh.fileno(), 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    _, status, usage = os.wait4(pid, 0)
    if os.WIFSIGNALED(status):
        return {"outcome": "crash", "error": signal.Signals(os.WTERMSIG(status)).name}, usage.ru_maxrss
    if not chunks:
        return {"outcome": "crash", "error": f"exit status {os.waitstatus_to_exitcode(status)} without a result"}, \
            usage.ru_maxrss
    return json.loads(b"".join(chunks)), usage.ru_maxrss


def classify(res: dict, base: dict) -> str:
    if res["outcome"] != "loaded":
        return res["outcome"]
    if res["labels"] == base["labels"] and np.allclose(res["dists"], base["dists"], rtol=1e-6):
        return "identical"
    return "other valid" if res["consistent"] else "wrong"


# -- load time of a large valid file -------------------------------------------------------------------
def load_time(n: int, folder: Path) -> str:
    import hnswlib

    from labkit.hnsw import HNSW, read_index
    X = np.random.default_rng(0).standard_normal((n, 32)).astype(np.float32)
    p = hnswlib.Index(space="l2", dim=32)
    p.init_index(max_elements=n, M=16, ef_construction=100, random_seed=100)
    p.add_items(X, num_threads=os.cpu_count())
    path = folder / "large.bin"
    p.save_index(str(path))

    def hl():
        q = hnswlib.Index(space="l2", dim=32)
        q.load_index(str(path))
    fns = {"labkit read_index": lambda: read_index(path), "labkit HNSW.load": lambda: HNSW.load(path),
           "hnswlib load_index": hl}
    ts = {k: [] for k in fns}
    for fn in fns.values():
        fn()
    for _ in range(7):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            ts[k].append(time.perf_counter() - t)
    lines = [f"\nLoad time of a valid {n}-element file (32-d, M=16; {path.stat().st_size / 2**20:.1f} MiB), "
             "median (min) of 7, alternating:\n", "| loader | median ms | min ms |", "|---|---:|---:|"]
    lines += [f"| {k} | {np.median(v) * 1e3:.0f} | {min(v) * 1e3:.0f} |" for k, v in ts.items()]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per case before it counts as a hang")
    ap.add_argument("--headroom-gb", type=float, default=4.0, help="address space a child may add")
    ap.add_argument("--details", action="store_true", help="list every case that is not a clean error/identical")
    ap.add_argument("--load-n", type=int, default=0, help="also time loading a valid file of this many elements")
    args = ap.parse_args()
    import hnswlib  # noqa: F401

    from labkit.hnsw import HNSW
    headroom = int(args.headroom_gb * 2**30)
    with tempfile.TemporaryDirectory(prefix="labkit-corrupt-") as d:
        folder = Path(d)
        base, Q = base_index(folder)
        HNSW.load(base).search(Q, k=K, ef=EF)  # compile / load the kernels once, before forking
        cases = battery(base)
        runners = {"labkit": run_labkit, "hnswlib": run_hnswlib}
        base_res = {lib: in_child(fn, str(base), Q, args.timeout, headroom)[0] for lib, fn in runners.items()}
        assert all(r["outcome"] == "loaded" and r["consistent"] for r in base_res.values()), base_res
        rss0 = {lib: in_child(fn, str(base), Q, args.timeout, headroom)[1] for lib, fn in runners.items()}
        table = {lib: Counter() for lib in runners}
        groups = {lib: {} for lib in runners}
        notes, big = [], Counter()
        t0 = time.time()
        for i, (group, name, raw) in enumerate(cases):
            path = folder / f"case{i}.bin"
            path.write_bytes(raw)
            for lib, fn in runners.items():
                res, rss = in_child(fn, str(path), Q, args.timeout, headroom)
                outcome = classify(res, base_res[lib])
                table[lib][outcome] += 1
                groups[lib].setdefault(group, Counter())[outcome] += 1
                if rss - rss0[lib] > 256 * 1024:
                    big[lib] += 1
                bad = outcome in ("unclear error", "wrong", "crash", "hang") or (
                    args.details and outcome not in ("clean error", "identical"))
                if bad:
                    notes.append(f"- {lib}: {group}: {name}: **{outcome}** "
                                 f"{res.get('error') or res.get('why') or ''}".rstrip())
            path.unlink()
        elapsed = time.time() - t0

    print(f"# Corrupt hnswlib files: labkit vs hnswlib 0.8.0\n\n{machine()}\n")
    print(f"{len(cases)} corrupt copies of one valid index ({N} x {DIM}-d, M={M}, ef_construction={EFC}); each "
          f"loaded and searched ({NQ} queries, k={K}, ef={EF}) in a forked child (timeout {args.timeout:.0f} s, "
          f"address space +{args.headroom_gb:g} GiB); {elapsed:.0f} s in all.\n")
    print("| library | " + " | ".join(OUTCOMES) + " | peak RSS +256 MiB |")
    print("|---|" + "---:|" * (len(OUTCOMES) + 1))
    for lib in runners:
        print(f"| {lib} | " + " | ".join(str(table[lib][o]) for o in OUTCOMES) + f" | {big[lib]} |")
    print("\nBy kind of corruption (clean error / unclear / identical / other valid / wrong / crash / hang):\n")
    print("| kind | cases | labkit | hnswlib |\n|---|---:|---|---|")
    for group in dict.fromkeys(g for g, _, _ in cases):
        cells = [" / ".join(str(groups[lib][group][o]) for o in OUTCOMES) for lib in runners]
        print(f"| {group} | {sum(groups['labkit'][group].values())} | {cells[0]} | {cells[1]} |")
    if notes:
        print("\nCases that are not a clean error or an identical answer:\n" if args.details else
              "\nCases with an unclear error, a wrong answer, a crash or a hang:\n")
        print("\n".join(notes))
    if args.load_n:
        with tempfile.TemporaryDirectory(prefix="labkit-load-") as d:
            print(load_time(args.load_n, Path(d)))
    failed = sum(table["labkit"][o] for o in ("unclear error", "wrong", "crash", "hang"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
