"""API cases for labkit.sdr (see tests/api_cases/__init__.py)."""

import numpy as np

from api_cases import Case

MODULES = ["labkit.sdr"]
M = "labkit.sdr"

rng = np.random.default_rng(0)
P64 = np.sort(np.argsort(rng.random((6, 64)), axis=1)[:, :4], axis=1)    # 6 patterns, 4 of 64 bits
P100 = np.sort(np.argsort(rng.random((5, 100)), axis=1)[:, :10], axis=1)  # 5 patterns, 10 of 100 bits
CUE = np.zeros(64, bool)
CUE[P64[0]] = True
X100 = np.zeros(100, bool)
X100[P100[0]] = True
XB = (rng.random((4, 32)) < 0.25).astype(np.int64)  # 4 binary inputs for a CodingField
XB[:, 0] = 1
V8 = rng.standard_normal((3, 8))


def _sdr(n=64, active=(1, 2, 3, 5, 8, 13, 21, 34, 55, 60)):
    from labkit.sdr import SDR
    return SDR(n, np.array(active))


def _SDR():
    from labkit.sdr import SDR
    return SDR


def _willshaw():
    from labkit.sdr import WillshawMemory
    mem = WillshawMemory(64, 4)
    mem.store_batch(P64)
    return mem


def _segments():
    from labkit.sdr import SegmentMemory
    mem = SegmentMemory(100, 10, 5, 3, seed=1)
    mem.store_batch(P100)
    return mem


def _field():
    from labkit.sdr import CodingField
    field = CodingField(4, 4, 32, seed=0)
    field.store_batch(XB[:2])
    return field


def _scalar():
    from labkit.sdr import ScalarEncoder
    return ScalarEncoder(100, 11, 0.0, 10.0)


def _category():
    from labkit.sdr import CategoryEncoder
    return CategoryEncoder(["a", "b", "c"], 4)


def _projection():
    from labkit.sdr import RandomProjectionEncoder
    return RandomProjectionEncoder(8, 64, 5, seed=0)


FIELD = dict(Q=4, K=4, n_inputs=32, seed=0, sigmoid_height=15.0, sigmoid_width=0.3, sigmoid_center=0.5,
             familiarity_power=4.0, familiarity_floor=0.0, v_to_mu="geometric")

CASES = [
    # the SDR value and its operations
    Case(M, "SDR", dict(n=64, active=np.array([1, 5, 9])),
         bad={"n": [0, -1], "active": [np.array([64]), np.array([-1]), np.array([3, 3])]},
         ok={"active": {"empty": "an SDR with no active bits is valid (w = 0)"}}),
    Case(M, "SDR.from_dense", dict(bits=np.array([0, 1, 1, 0], bool)), make=_SDR, bad={"bits": [np.array([0, 2])]}),
    Case(M, "SDR.random", dict(n=64, w=5, seed=3), make=_SDR, bad={"n": [0], "w": [0, 65], "seed": [-1]}),
    Case(M, "SDR.overlap", dict(other=_sdr(active=[2, 3, 4])), make=_sdr, bad={"other": [_sdr(65, [1])]}),
    Case(M, "SDR.matches", dict(other=_sdr(active=[2, 3, 4]), theta=2), make=_sdr, bad={"theta": [-1]}),
    Case(M, "SDR.subsample", dict(s=4, seed=1), make=_sdr, bad={"s": [0, 11], "seed": [-1]}),
    Case(M, "SDR.add_noise", dict(v=3, seed=1), make=_sdr, bad={"v": [-1, 11]}),
    # encoders
    Case(M, "ScalarEncoder", dict(n=100, w=11, minval=0.0, maxval=10.0, clip=False),
         bad={"n": [0], "w": [0, 101], "maxval": [0.0, -1.0]}),
    Case(M, "ScalarEncoder.encode", dict(x=3.0), make=_scalar, bad={"x": [10.5, -1.0]}),
    Case(M, "ScalarEncoder.encode_batch", dict(xs=np.array([1.0, 2.5])), make=_scalar, bad={"xs": [np.array([11.0])]},
         ok={"xs": {"empty": "no values -> a (0, n) matrix"}}),
    Case(M, "CategoryEncoder", dict(categories=["a", "b", "c"], w=4), bad={"w": [0], "categories": [[], ["a", "a"]]}),
    Case(M, "CategoryEncoder.encode", dict(x="b"), make=_category),
    Case(M, "CategoryEncoder.encode_batch", dict(xs=["a", "c"]), make=_category, bad={"xs": [["z"]]}),
    Case(M, "RandomProjectionEncoder", dict(dim=8, n=64, w=5, seed=0), then=lambda enc: enc.encode_batch(V8),
         bad={"dim": [0], "n": [0], "w": [0, 65], "seed": [-1]}),
    Case(M, "RandomProjectionEncoder.encode", dict(x=V8[0]), make=_projection),
    Case(M, "RandomProjectionEncoder.encode_batch", dict(X=V8), make=_projection,
         ok={"X": {"empty": "no rows -> a (0, n) matrix"}}),
    Case(M, "RandomProjectionEncoder.active_batch", dict(X=V8), make=_projection,
         ok={"X": {"empty": "no rows -> a (0, w) matrix"}}),
    # memories
    Case(M, "WillshawMemory", dict(n=64, w=4, n_out=64), then=lambda mem: (mem.store_batch(P64), mem)[1],
         memory=True, bad={"n": [0], "w": [0, 65], "n_out": [0, -1]}),
    Case(M, "WillshawMemory.store", dict(cue=CUE, target=CUE), make=_willshaw, bad={"cue": [np.full(64, 2)]}),
    Case(M, "WillshawMemory.store_batch", dict(cues=P64), make=_willshaw, bad={"cues": [np.array([[1, 2, 3, 99]])]},
         ok={"cues": {"empty": "no rows -> nothing stored"}}),
    Case(M, "WillshawMemory.recall", dict(cue=CUE, theta=4), make=_willshaw, bad={"theta": [-1, 65]}),
    Case(M, "WillshawMemory.recall_steps", dict(cue=CUE, steps=2), make=_willshaw, bad={"steps": [0]}),
    Case(M, "WillshawMemory.dendritic_sums", dict(cue=CUE), make=_willshaw),
    Case(M, "SegmentMemory", dict(n=100, w=10, s=5, theta=3, patterns_per_segment=1, seed=0),
         then=lambda mem: (mem.store_batch(P100), mem)[1], memory=True,
         bad={"s": [11, 0], "theta": [6, -1], "patterns_per_segment": [0], "seed": [-1]}),
    Case(M, "SegmentMemory.store", dict(x=X100), make=_segments, bad={"x": [np.arange(100) % 2 * 0]}),
    Case(M, "SegmentMemory.store_batch", dict(patterns=P100), make=_segments, bad={"patterns": [np.array([[1, 2]])]},
         ok={"patterns": {"empty": "no rows -> nothing stored"}}),
    Case(M, "SegmentMemory.recognize", dict(x=X100), make=_segments),
    Case(M, "SegmentMemory.overlaps_batch", dict(X=P100), make=_segments, bad={"X": [np.array([[0, 100]])]},
         ok={"X": {"empty": "no inputs -> no rows"}}),
    Case(M, "CodingField", FIELD, then=lambda f: (f.store_batch(XB), f)[1], memory=True,
         bad={"Q": [0], "K": [1], "n_inputs": [0, 10**9], "sigmoid_width": [0.0], "sigmoid_height": [0.0],
              "familiarity_floor": [1.0], "sigmoid_center": [1.5], "v_to_mu": ["cubic"], "seed": [-1]}),
    Case(M, "CodingField.store", dict(x=XB[2]), make=_field, bad={"x": [np.zeros(32, np.int64), np.full(32, 2)]}),
    Case(M, "CodingField.encode", dict(x=XB[2], learn=False), make=_field),
    Case(M, "CodingField.retrieve", dict(x=XB[0]), make=_field),
    Case(M, "CodingField.familiarity", dict(x=XB[0]), make=_field),
    Case(M, "CodingField.store_batch", dict(X=XB), make=_field, ok={"X": {"empty": "no rows -> no codes"}}),
    Case(M, "CodingField.retrieve_batch", dict(X=XB), make=_field, ok={"X": {"empty": "no rows -> no codes"}}),
    Case(M, "CodingField.code_overlap", dict(c1=np.array([0, 1, 2, 3]), c2=np.array([0, 1, 3, 3])), make=_field,
         bad={"c1": [np.array([0, 1, 2, 4])]}),
    # exact theory
    Case(M, "capacity", dict(n=64, w=5), bad={"n": [0, -1, 2**41], "w": [0, 65]}),
    Case(M, "overlap_pmf", dict(n=64, w=5, s=8), bad={"s": [0, 65], "n": [0, 2**41]}),
    Case(M, "false_match_probability", dict(n=64, w=5, s=5, theta=2), bad={"theta": [-1, 6], "w": [-3]}),
    Case(M, "union_false_match_probability", dict(n=64, w=5, M=3, theta=2, a=6, method="plugin"),
         bad={"M": [0, -2], "a": [0, 65], "theta": [-1]}),
    Case(M, "union_false_match_probability", dict(n=64, w=5, M=3, theta=2, a=6, method="average"), id="average",
         bad={"M": [10**9]}),
    Case(M, "union_size_expected", dict(n=64, w=5, M=3), bad={"M": [-1, 2**41], "n": [0]}),
    Case(M, "union_size_pmf", dict(n=64, w=5, M=3), bad={"M": [-1, 10**9], "n": [10**8]}),
    Case(M, "false_negative_probability", dict(w=20, s=10, theta=6, v=5), bad={"v": [-1, 21], "theta": [11]}),
    Case(M, "noisy_overlap_pmf", dict(w=20, s=10, v=5), bad={"v": [-1, 21], "s": [21]}),
    Case(M, "willshaw_fill", dict(n=64, w=5, M=10, auto=True), bad={"M": [-1, 2**41]}),
    Case(M, "willshaw_false_units", dict(n=64, w=5, M=10, auto=False), bad={"M": [-1]}),
    # Monte Carlo
    Case(M, "overlap_counts", dict(n=64, w=5, s=5, trials=300, seed=1, backend="fast"),
         bad={"trials": [0], "seed": [-1], "n": [0, 2**29]}),
    Case(M, "false_match_mc", dict(n=64, w=5, s=5, thetas=[1, 2], trials=300, seed=1, backend="fast"),
         bad={"thetas": [[6], [-1]], "trials": [0]}),
    Case(M, "union_false_match_mc", dict(n=64, w=4, M=3, thetas=[1, 2], n_unions=5, queries=20, seed=1, a=4,
                                         backend="fast"),
         bad={"n_unions": [0], "queries": [0], "a": [0, 65], "M": [0]}),
    # experiments
    Case(M, "random_patterns", dict(n=64, w=5, m=10, seed=0), bad={"m": [-1, 10**9]}),
    Case(M, "recall_curve", dict(n=64, w=4, Ms=np.array([5, 10]), seed=0, max_checked=5, progress=False),
         bad={"Ms": [np.array([0, 5])], "max_checked": [0]}),
    Case(M, "noisy", dict(patterns=P64, n=64, v=2, rng=0, chunk=8), bad={"v": [-1, 5], "chunk": [0]},
         ok={"patterns": {"empty": "no patterns -> no rows"}}),
    Case(M, "measure", dict(mem=_segments(), patterns=P100, v=2, trials=200, seed=0),
         bad={"v": [-1, 11], "trials": [0], "patterns": [P64]}),
    Case(M, "noise_sweep", dict(n=100, w=10, s=5, theta=3, vs=np.array([0, 2]), n_patterns=5, trials=100, seed=0),
         bad={"vs": [np.array([-1])], "n_patterns": [0]}, ok={"vs": {"empty": "no noise levels -> no rows"}}),
    Case(M, "capacity_curve", dict(Q=4, K=4, n_inputs=64, w=8, n_items_list=np.array([2, 5]), noise=0.25, seed=0,
                                   n_probe=3),
         bad={"noise": [-0.1, 1.5], "n_items_list": [np.array([0])], "n_probe": [0], "w": [0, 65]}),
    Case(M, "similarity_curve", dict(field_or_params=dict(Q=4, K=4, n_inputs=64), w=8, n_pairs=5, seed=0),
         bad={"n_pairs": [1], "w": [0, 33], "field_or_params": [dict(Q=0, K=4, n_inputs=64)]}),
]
