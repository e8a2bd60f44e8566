"""Measures of an HNSW memory: recall against exact neighbours, and reachability of the graph."""

from __future__ import annotations

from collections import deque

import numpy as np


def recall_at_k(labels: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Per query, |returned ∩ exact| / k — labels (nq, k) and exact (nq, k) label arrays
    (ann-benchmarks' k-nn recall, without its distance tolerance for ties)."""
    labels, exact = np.asarray(labels), np.asarray(exact)
    if labels.shape != exact.shape or labels.ndim != 2:
        raise ValueError(f"labels/exact: expected equal (nq, k) shapes, got {labels.shape} and {exact.shape}")
    k = labels.shape[1]
    return np.array([len(np.intersect1d(a[a >= 0], b)) / k for a, b in zip(labels, exact, strict=True)])


def unreachable(layer: dict, entry: int) -> np.ndarray:
    """Internal ids on `layer` (an item of `HNSW.layers()`) that a search starting at `entry`
    can never visit: breadth-first search over the layer's directed links."""
    nodes, indptr, indices = layer["nodes"], layer["indptr"], layer["indices"]
    pos = {int(v): i for i, v in enumerate(nodes)}
    if entry not in pos:
        raise ValueError(f"entry: node {entry} is not on layer {layer['level']}")
    seen = np.zeros(len(nodes), bool)
    seen[pos[entry]] = True
    queue = deque([pos[entry]])
    while queue:
        i = queue.popleft()
        for v in indices[indptr[i]:indptr[i + 1]]:
            j = pos[int(v)]
            if not seen[j]:
                seen[j] = True
                queue.append(j)
    return nodes[~seen]
