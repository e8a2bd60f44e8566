"""The benchmark convention: alternating A/B, medians of >= 5 runs, a ratio, a machine line.

The harness's clock is replaced by a fake one that the timed functions advance, so these tests check
the bookkeeping (order, warm-up, medians, ratio) exactly and never depend on the machine's load."""

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import harness  # noqa: E402
from harness import compare, machine, median_over, median_time  # noqa: E402


@pytest.fixture
def clock(monkeypatch):
    """A fake perf_counter for the harness; `clock.spend(s)` is a call that takes s seconds."""
    fake = SimpleNamespace(now=0.0)
    fake.perf_counter = lambda: fake.now
    fake.spend = lambda s: setattr(fake, "now", fake.now + s)
    monkeypatch.setattr(harness, "time", fake)
    return fake


def test_compare_alternates_and_takes_medians(clock):
    calls = []
    a_times, b_times = iter([9, 2, 1, 2, 5, 2]), iter([9, 6, 6, 1, 7, 6])  # warm-up first (not timed)
    a = lambda: (calls.append("a"), clock.spend(next(a_times)))  # noqa: E731
    b = lambda: (calls.append("b"), clock.spend(next(b_times)))  # noqa: E731
    r = compare(a, b, repeats=5, warmup=1)
    assert calls == ["a", "b"] * 6
    assert r == {"labkit_s": 2, "anchor_s": 6, "ratio": pytest.approx(1 / 3), "repeats": 5}


def test_compare_refuses_fewer_than_five_runs():
    with pytest.raises(ValueError, match="repeats"):
        compare(lambda: None, lambda: None, repeats=3)


def test_machine_names_cores_and_python():
    m = machine()
    assert "cores" in m and "Python" in m


def test_median_time_warms_up_once_then_takes_the_median(clock):
    waits = iter([100.0, 0.03, 0.001, 0.002])  # warm-up, then three timed calls
    calls = []

    def fn():
        calls.append(1)
        clock.spend(next(waits))
    assert median_time(fn, repeats=3) == pytest.approx(0.002) and len(calls) == 4


def test_median_over_times_one_call_per_value(clock):
    seen = []

    def move(v):
        seen.append(v)
        clock.spend(v)
    assert median_over(move, [0.3, 0.1, 0.2, 5.0]) == pytest.approx(0.25) and seen == [0.3, 0.1, 0.2, 5.0]
    with pytest.raises(ValueError, match="values"):
        median_over(move, [])
