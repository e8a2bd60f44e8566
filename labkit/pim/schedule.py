"""Event scheduler and the :class:`Timeline` it produces.

Lanes are named resources ("pim/ch03", "pim/ch03/bank07", "link", "asic", "gpu"); every lane runs its
events in program order, one at a time. An event starts at ``max(ready, lane free)`` where ``ready`` is
the end of its dependencies, so independent work on different lanes overlaps (list scheduling, as in
event-driven simulators such as PIM-GPT's). Each event remembers the event that fixed its start (its
``pred``: the latest dependency, or the previous event on its lane); following ``pred`` back from the
last event gives the critical path, whose durations and gaps sum to the latency exactly.

Events are added a vector at a time (one op on all 32 channels is one call), so a 32-layer decode is a
few hundred numpy calls, not ten thousand Python objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from labkit.pim.energy import COMPONENTS

EVENT_COLUMNS = ("unit", "lane", "op", "layer", "start", "end", "bytes", "flops", "energy")


class Added(NamedTuple):
    """The events one :meth:`EventLog.add` scheduled, one per lane: their row indices and end times."""
    index: np.ndarray
    end: np.ndarray


class Slot(NamedTuple):
    """Where an event would go on each lane (:meth:`EventLog.peek`): its start and its ``pred``."""
    start: np.ndarray
    pred: np.ndarray


class EventLog:
    """Mutable builder: add events lane-vector by lane-vector, then :meth:`timeline`."""

    def __init__(self):
        self._lanes: dict[str, int] = {}
        self._free = np.zeros(0)
        self._last = np.zeros(0, dtype=np.int64)
        self._cols: dict[str, list] = {k: [] for k in ("lane_id", "start", "end", "pred", "bytes", "flops",
                                                       "layer", "op_id", "unit_id", "kind_id", *COMPONENTS)}
        self._names: dict[str, dict[str, int]] = {"op": {}, "unit": {}, "kind": {}}
        # (add number, array) of the columns given one value per lane; the rest are scalars
        self._arrays: dict[str, list] = {k: [] for k in self._cols if k not in ("layer", "op_id", "unit_id", "kind_id")}
        self._counts: list[int] = []
        self.n = 0

    def lanes(self, names) -> np.ndarray:
        """Ids of lanes by name, registering new ones."""
        ids = []
        for name in names:
            if name not in self._lanes:
                self._lanes[name] = len(self._lanes)
            ids.append(self._lanes[name])
        grow = len(self._lanes) - len(self._free)
        if grow > 0:
            self._free = np.concatenate([self._free, np.zeros(grow)])
            self._last = np.concatenate([self._last, np.full(grow, -1, dtype=np.int64)])
        return np.asarray(ids, dtype=np.int64)

    def _code(self, table: str, name: str) -> int:
        return self._names[table].setdefault(name, len(self._names[table]))

    def peek(self, lane_ids, ready, ready_pred):
        """(start, pred) an event on each lane would get, without adding it."""
        lane_ids = np.asarray(lane_ids, dtype=np.int64)
        free = self._free[lane_ids]
        ready = np.broadcast_to(np.asarray(ready, dtype=float), free.shape)
        # start = max(ready, lane free); pred = the dependency if it binds, else the lane's last event
        return Slot(np.maximum(ready, free), np.where(ready >= free, ready_pred, self._last[lane_ids]))

    def occupy(self, lane_ids, end, last):
        """Mark lanes busy until ``end`` by events ``last`` that were placed on finer lanes (a channel
        whose work was logged per bank)."""
        lane_ids = np.asarray(lane_ids, dtype=np.int64)
        self._free[lane_ids] = end
        self._last[lane_ids] = last

    def add(self, lane_ids, ready, ready_pred, work, *, unit: str, op: str, layer: int, kind: str,
            nbytes=0.0, flops=0.0, energy=None, finish=None):
        """Schedule one event per lane in ``lane_ids`` (distinct lanes). ``ready``/``ready_pred``: end and
        index of the latest dependency (scalars or per-lane arrays; pred -1 for none). ``work`` seconds,
        or ``finish(start, work) -> end`` for events that stretch (refresh). Returns Added(index, end).
        Scalars are stored as scalars and expanded once, in :meth:`timeline`."""
        if len(lane_ids) == 1 and finish is None and np.ndim(ready) == 0 and np.ndim(work) == 0:
            # one lane, scalar times (link, ASIC and GPU events: most of them): plain floats, same result
            lane = int(lane_ids[0])
            free, ready = float(self._free[lane]), float(ready)
            start = ready if ready >= free else free
            pred = int(ready_pred) if ready >= free else int(self._last[lane])
            end = start + float(work)
            n, first = 1, self.n
            self._free[lane], self._last[lane] = end, first
            times = {"lane_id": lane, "start": start, "end": end, "pred": pred}
            out = Added(np.array([first]), np.array([end]))
        else:
            lane_ids = np.asarray(lane_ids, dtype=np.int64)
            n = len(lane_ids)
            free = self._free[lane_ids]
            start = np.maximum(ready, free)
            pred = np.where(np.asarray(ready) >= free, ready_pred, self._last[lane_ids])
            end = finish(start, work) if finish is not None else start + work
            idx = np.arange(self.n, self.n + n)
            self._free[lane_ids] = end
            self._last[lane_ids] = idx
            times = {"lane_id": lane_ids, "start": start, "end": end, "pred": pred}
            out = Added(idx, end)
        c = self._cols
        c["layer"].append(layer)
        c["op_id"].append(self._code("op", op))
        c["unit_id"].append(self._code("unit", unit))
        c["kind_id"].append(self._code("kind", kind))
        energy = energy or {}
        # every other column: one value for all lanes (kept as a scalar) or one per lane
        k = len(self._counts)
        for name, v in (*times.items(), ("bytes", nbytes), ("flops", flops),
                        *((comp, energy.get(comp, 0.0)) for comp in COMPONENTS)):
            if isinstance(v, np.ndarray) and v.ndim:
                self._arrays[name].append((k, v))
                v = 0
            c[name].append(v)
        self._counts.append(n)
        self.n += n
        return out

    def _column(self, name, counts, offsets, dtype=float):
        out = np.repeat(np.array(self._cols[name], dtype=dtype), counts)
        for k, v in self._arrays.get(name, ()):
            out[offsets[k]:offsets[k + 1]] = v
        return out

    def timeline(self, meta: dict | None = None, background: dict | None = None) -> Timeline:
        """Freeze into a Timeline. ``background``: unit -> watts, charged over [0, latency] as one
        'background' event per unit on its own lane (energy component 'static')."""
        counts = np.asarray(self._counts, dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(counts)])
        ints = ("lane_id", "pred", "layer", "op_id", "unit_id", "kind_id")
        cols = {k: self._column(k, counts, offsets, np.int64 if k in ints else float) for k in self._cols}
        latency = float(cols["end"].max()) if self.n else 0.0
        names = {t: np.array(list(d), dtype=object) for t, d in self._names.items()}
        lane_names = np.array(list(self._lanes), dtype=object)
        df = pd.DataFrame({
            "unit": names["unit"][cols["unit_id"].astype(np.int64)] if self.n else [],
            "lane": lane_names[cols["lane_id"].astype(np.int64)] if self.n else [],
            "op": names["op"][cols["op_id"].astype(np.int64)] if self.n else [],
            "layer": cols["layer"].astype(np.int64), "start": cols["start"], "end": cols["end"],
            "bytes": cols["bytes"], "flops": cols["flops"],
            "energy": sum(cols[c] for c in COMPONENTS) if self.n else np.zeros(0),
            "kind": names["kind"][cols["kind_id"].astype(np.int64)] if self.n else [],
            "pred": cols["pred"].astype(np.int64),
            **{f"e_{c}": cols[c] for c in COMPONENTS},
        })
        rows = []
        for unit, watts in (background or {}).items():
            if watts > 0 and latency > 0:
                e = {f"e_{c}": 0.0 for c in COMPONENTS}
                e["e_static"] = watts * latency
                rows.append({"unit": unit, "lane": f"{unit}/background", "op": "background", "layer": -1,
                             "start": 0.0, "end": latency, "bytes": 0.0, "flops": 0.0, "energy": watts * latency,
                             "kind": "background", "pred": -1, **e})
        if rows:
            df = pd.concat([df, pd.DataFrame(rows)], ignore_index=True)
        return Timeline(events=df, latency=latency, energy=float(df["energy"].sum()), meta=dict(meta or {}))


@dataclass(frozen=True)
class Timeline:
    """One simulated step. ``latency`` (s) = the last event's end; ``energy`` (J) = the sum of event
    energies; ``events``: one row per event, columns (unit, lane, op, layer, start, end, bytes, flops,
    energy, kind, pred, e_<component>...); ``pred`` is the row index of the event that fixed the start."""
    events: pd.DataFrame
    latency: float
    energy: float
    meta: dict = field(default_factory=dict, compare=False)

    def snapshot(self) -> dict:
        """Plain data: the events DataFrame, latency (s), energy (J) and the run's arguments (meta)."""
        return {"events": self.events, "latency": self.latency, "energy": self.energy, "meta": dict(self.meta)}

    def critical_path(self) -> pd.DataFrame:
        """Events from t = 0 to the latency, each starting when its predecessor ends (or after a gap);
        sum(end - start) + sum(gap) == latency. Adds a ``gap`` column."""
        ev = self.events
        work = ev[ev["kind"] != "background"]
        if work.empty:
            return work.assign(gap=[])
        pred = ev["pred"].to_numpy()
        end = ev["end"].to_numpy()
        i = int(work["end"].idxmax())
        chain = []
        while i >= 0:
            chain.append(i)
            i = int(pred[i])
        chain.reverse()
        out = ev.loc[chain].copy()
        prev_end = np.concatenate([[0.0], end[chain[:-1]]])
        out["gap"] = out["start"].to_numpy() - prev_end
        return out

    def by_op(self) -> pd.DataFrame:
        """Per (unit, op): events, busy time summed over lanes, span (first start to last end), bytes,
        flops, energy; sorted by energy."""
        ev = self.events.assign(busy=self.events["end"] - self.events["start"])
        g = ev.groupby(["unit", "op"], sort=False)
        out = g.agg(events=("op", "size"), busy=("busy", "sum"), first=("start", "min"), last=("end", "max"),
                    bytes=("bytes", "sum"), flops=("flops", "sum"), energy=("energy", "sum"))
        out["span"] = out.pop("last") - out.pop("first")
        return out.sort_values("energy", ascending=False)

    def energy_breakdown(self) -> pd.DataFrame:
        """Joules by unit (rows) and component (columns: dram_cell, on_die_io, tsv_phy, interposer, mac,
        asic, static), with a 'total' row and column."""
        cols = [f"e_{c}" for c in COMPONENTS]
        out = self.events.groupby("unit")[cols].sum()
        out.columns = list(COMPONENTS)
        out.loc["total"] = out.sum()
        out["total"] = out.sum(axis=1)
        return out

    def lanes(self) -> list[str]:
        """Lane names in first-use order."""
        return list(dict.fromkeys(self.events["lane"]))
