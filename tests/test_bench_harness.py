"""The benchmark convention: alternating A/B, medians of >= 5 runs, a ratio, a machine line."""

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from harness import compare, machine, median_time  # noqa: E402


def test_compare_alternates_and_takes_medians():
    calls = []
    a = lambda: (calls.append("a"), time.sleep(0.002))  # noqa: E731
    b = lambda: (calls.append("b"), time.sleep(0.006))  # noqa: E731
    r = compare(a, b, repeats=5, warmup=1)
    assert calls == ["a", "b"] * 6
    assert r["repeats"] == 5 and r["labkit_s"] < r["anchor_s"]
    assert r["ratio"] == pytest.approx(r["labkit_s"] / r["anchor_s"])
    assert 0.1 < r["ratio"] < 0.9


def test_compare_refuses_fewer_than_five_runs():
    with pytest.raises(ValueError, match="repeats"):
        compare(lambda: None, lambda: None, repeats=3)


def test_machine_names_cores_and_python():
    m = machine()
    assert "cores" in m and "Python" in m


def test_median_time_warms_up_once_then_takes_the_median():
    waits = iter([0.0, 0.03, 0.001, 0.002])  # warm-up, then three timed calls
    calls = []

    def fn():
        calls.append(1)
        time.sleep(next(waits))
    t = median_time(fn, repeats=3)
    assert len(calls) == 4 and 0.002 <= t < 0.02
