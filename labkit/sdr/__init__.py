"""Sparse distributed representations and the memories built on them.

    sdr.py           SDR: overlap, union, subsample, add_noise, dense / sparse views
    theory.py        exact false-match, union and noise probabilities (Ahmad & Hawkins 2015, 2016)
    montecarlo.py    Monte Carlo of the same quantities (Floyd sampling), readable loops
    kernels.py       the same loops compiled with numba (backend="fast")
    encoders.py      ScalarEncoder, CategoryEncoder, RandomProjectionEncoder
    willshaw.py      WillshawMemory, a bit-packed clipped-Hebbian associative net; recall_curve
    segment.py       SegmentMemory: patterns as subsampled dendritic segments; noise sweeps
    coding_field.py  CodingField: Sparsey-style Q×K winner-take-all codes, single-trial learning
"""

from labkit.sdr.coding_field import CodingField, capacity_curve, similarity_curve
from labkit.sdr.encoders import CategoryEncoder, RandomProjectionEncoder, ScalarEncoder
from labkit.sdr.montecarlo import false_match_mc, overlap_counts, union_false_match_mc
from labkit.sdr.sdr import SDR
from labkit.sdr.segment import SegmentMemory, measure, noise_sweep, noisy
from labkit.sdr.theory import (
    capacity,
    false_match_probability,
    false_negative_probability,
    noisy_overlap_pmf,
    overlap_pmf,
    union_false_match_probability,
    union_size_expected,
    union_size_pmf,
    willshaw_false_units,
    willshaw_fill,
)
from labkit.sdr.willshaw import WillshawMemory, random_patterns, recall_curve

__all__ = [
    "SDR", "ScalarEncoder", "CategoryEncoder", "RandomProjectionEncoder", "WillshawMemory", "SegmentMemory",
    "CodingField", "capacity", "overlap_pmf", "false_match_probability", "union_false_match_probability",
    "union_size_expected", "union_size_pmf", "false_negative_probability", "noisy_overlap_pmf", "willshaw_fill",
    "willshaw_false_units", "overlap_counts", "false_match_mc", "union_false_match_mc", "random_patterns",
    "recall_curve", "noisy", "measure", "noise_sweep", "capacity_curve", "similarity_curve",
]
