"""`std::priority_queue` exactly as libstdc++ runs it (GCC libstdc++-v3/include/bits/stl_heap.h), on parallel arrays.

hnswlib keeps its candidate lists in `std::priority_queue`s that compare by distance only
(`CompareByFirst`), so which of two equal distances comes out first is decided by the heap's
sift order. Replaying libstdc++'s `__push_heap` / `__adjust_heap` reproduces that order.

A heap is (keys, ids, size): a max-heap on keys; with `by_id` ties are broken by id, as the
default `std::pair` comparison does. Each function is plain Python, marked `labkit.jit.jitable`
(numba's `register_jitable`): called from Python it runs as written (the readable path); called from a
compiled kernel (kernels.py) the same source is compiled (and inlined by LLVM).
"""

from __future__ import annotations

from labkit.jit import jitable


@jitable
def heap_push(keys, ids, size, key, id_, by_id):
    """priority_queue::push (push_back + __push_heap); returns the new size."""
    hole = size
    parent = (hole - 1) // 2
    while hole > 0 and (keys[parent] < key or (by_id and keys[parent] == key and ids[parent] < id_)):
        keys[hole] = keys[parent]
        ids[hole] = ids[parent]
        hole = parent
        parent = (hole - 1) // 2
    keys[hole] = key
    ids[hole] = id_
    return size + 1


@jitable
def heap_pop(keys, ids, size, by_id):
    """priority_queue::pop (pop_heap + pop_back); returns the new size. The popped top ends
    at index size - 1."""
    if size > 1:
        last = size - 1
        key = keys[last]
        id_ = ids[last]
        keys[last] = keys[0]
        ids[last] = ids[0]
        # __adjust_heap on [0, last): sift the hole at the root down to a leaf ...
        hole = 0
        child = 0
        while child < (last - 1) // 2:
            child = 2 * (child + 1)
            if keys[child] < keys[child - 1] or (by_id and keys[child] == keys[child - 1]
                                                 and ids[child] < ids[child - 1]):
                child -= 1
            keys[hole] = keys[child]
            ids[hole] = ids[child]
            hole = child
        if last % 2 == 0 and child == (last - 2) // 2:
            child = 2 * (child + 1)
            keys[hole] = keys[child - 1]
            ids[hole] = ids[child - 1]
            hole = child - 1
        # ... then __push_heap the old last element up from there
        parent = (hole - 1) // 2
        while hole > 0 and (keys[parent] < key or (by_id and keys[parent] == key and ids[parent] < id_)):
            keys[hole] = keys[parent]
            ids[hole] = ids[parent]
            hole = parent
            parent = (hole - 1) // 2
        keys[hole] = key
        ids[hole] = id_
    return size - 1
