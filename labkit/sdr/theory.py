"""Exact SDR theory: false matches, unions, noise (Ahmad & Hawkins 2015, 2016), Willshaw fill.

Every probability is a ratio of exact integers (`math.comb`), divided once at the end, so values
like 2.5e-14 come out to full double precision. Names follow the 2016 paper: a random SDR has
`w` (their `a`) active bits out of `n`; a dendritic segment or stored SDR holds `s` synapses and
fires when at least `theta` of them see an active bit.

Exact integers grow with the sizes: C(n, w) has about w·log2(n/w) bits and a tail sum has up to
min(s, w) terms. Before summing, `_budget` refuses sizes whose sum would take more than a few
seconds (ValueError naming the sizes) instead of running for hours.
"""

from __future__ import annotations

from fractions import Fraction
from math import comb, lgamma, log, log1p

import numpy as np

from labkit.validate import check_bool, check_choice, check_int, fail

__all__ = ["capacity", "overlap_pmf", "false_match_probability", "union_false_match_probability",
           "union_size_expected", "union_size_pmf", "false_negative_probability", "noisy_overlap_pmf",
           "willshaw_fill", "willshaw_false_units"]

MAX_SIZE = 2**40       # largest n, w, M accepted anywhere (closed forms stay finite in float64)
MAX_BITS = 2**18       # largest exact integer C(n, w) computed, in bits (~80,000 decimal digits)
MAX_WORK = 4 * 10**7   # terms x bits of one exact sum (about 4 s on one core)
MAX_CELLS = 2**23      # entries of union_size_pmf's (n+1, w+1) transition table (64 MiB)
MAX_STEPS = 2**28      # M x (w+1) x (n+1) element updates of union_size_pmf (a few seconds)


def _log2_comb(n: int, k: int) -> float:
    return (lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1)) / log(2) if 0 <= k <= n else 0.0


def _budget(names: str, n: int, k: int, terms: int = 1) -> None:
    """Refuse an exact sum of `terms` terms over integers as large as C(n, k) when it is too big."""
    bits = _log2_comb(n, k)
    if bits > MAX_BITS or bits * terms > MAX_WORK:
        raise fail(names, f"sizes whose exact sum needs at most {MAX_BITS} bits per term and "
                   f"{MAX_WORK:.0e} bit-terms", f"C({n}, {k}) of {bits:.0f} bits over {terms} terms", described=True)


def _check(n, w, s, theta):
    n = check_int("n", n, low=1, high=MAX_SIZE)
    w = check_int("w", w, low=1, high=n)
    s = check_int("s", s, low=1, high=n)
    theta = check_int("theta", theta, low=0, high=s)
    return n, w, s, theta


def _check_noise(w, s, v, theta=0):
    w = check_int("w", w, low=1, high=MAX_SIZE)
    s = check_int("s", s, low=1, high=w)
    theta = check_int("theta", theta, low=0, high=s)
    v = check_int("v", v, low=0, high=w)
    return w, s, v, theta


def capacity(n: int, w: int) -> int:
    """C(n, w): the number of distinct SDRs with w of n bits on (2015, eq. 2)."""
    n, w, _, _ = _check(n, w, 1, 0)
    _budget("n, w", n, w)
    return comb(n, w)


def overlap_pmf(n: int, w: int, s: int) -> np.ndarray:
    """P(|x ∩ S| = b) for b = 0..s, x a random w-of-n SDR and S a fixed set of s bits:
    the hypergeometric C(s,b)·C(n−s, w−b) / C(n,w) (2016, eq. 1's summand)."""
    n, w, s, _ = _check(n, w, s, 0)
    _budget("n, w, s", n, w, s + 1)
    total = comb(n, w)
    return np.array([float(Fraction(comb(s, b) * comb(n - s, w - b), total)) if b <= w else 0.0
                     for b in range(s + 1)])


def false_match_probability(n: int, w: int, s: int, theta: int) -> float:
    """P(a random w-of-n SDR overlaps a fixed s-bit set in >= theta bits) — the false-match rate of
    a segment with s synapses and threshold theta (Ahmad & Hawkins 2016, eq. 1; s = w is a full
    stored SDR, s < w subsampling):

        fp = Σ_{b=θ}^{s} C(s,b)·C(n−s, w−b) / C(n,w)
    """
    n, w, s, theta = _check(n, w, s, theta)
    _budget("n, w, s", n, w, max(0, min(s, w) - theta + 1))
    num = sum(comb(s, b) * comb(n - s, w - b) for b in range(theta, min(s, w) + 1))
    return float(Fraction(num, comb(n, w)))


def union_size_expected(n: int, w: int, M: int) -> float:
    """E|union of M random w-of-n SDRs| = n·(1 − p0), p0 = (1 − w/n)^M (2016, "Unions")."""
    n, w, _, _ = _check(n, w, 1, 0)
    M = check_int("M", M, low=0, high=MAX_SIZE)
    return n * (1.0 - (1.0 - w / n) ** M)


def union_size_pmf(n: int, w: int, M: int) -> np.ndarray:
    """Exact distribution of the union size after OR-ing M independent random w-of-n SDRs:
    P[u] for u = 0..n. Adding an SDR to a union of size u adds w − b new bits where the overlap
    b is hypergeometric(n, u, w) — a Markov chain over u, run M steps."""
    n, w, _, _ = _check(n, w, 1, 0)
    M = check_int("M", M, low=0, high=MAX_SIZE)
    if (n + 1) * (w + 1) > MAX_CELLS:
        raise fail("n, w", f"(n+1)·(w+1) <= {MAX_CELLS} transition probabilities", (n + 1) * (w + 1))
    if M * (w + 1) * (n + 1) > MAX_STEPS:
        raise fail("M", f"M·(w+1)·(n+1) <= {MAX_STEPS} updates, M <= {MAX_STEPS // ((w + 1) * (n + 1))}", M)
    from scipy.special import gammaln

    def log_comb(a, k):  # log C(a, k), −inf where k is out of range
        ok = (k >= 0) & (k <= a)
        return np.where(ok, gammaln(a + 1.0) - gammaln(np.where(ok, k, 0) + 1.0)
                        - gammaln(np.where(ok, a - k, 0) + 1.0), -np.inf)

    u, b = np.arange(n + 1)[:, None], np.arange(w + 1)[None, :]
    # T[u, b] = P(overlap b | union size u) = C(u,b)·C(n−u, w−b)/C(n,w)
    T = np.exp(log_comb(u, b) + log_comb(n - u, w - b) - log_comb(np.array(n), np.array(w)))
    p = np.zeros(n + 1)
    p[0] = 1.0
    for _ in range(M):
        nxt = np.zeros(n + 1)
        for b in range(w + 1):  # size u moves to u + w − b
            shift = w - b
            nxt[shift:] += (p * T[:, b])[: n + 1 - shift]
        p = nxt
    return p / p.sum()


def union_false_match_probability(n: int, w: int, M: int, theta: int, *, a: int | None = None,
                                  method: str = "plugin") -> float:
    """P(a random a-of-n SDR (default a = w) matches the union of M stored w-bit SDRs at >= theta).

    method="plugin" (Ahmad & Hawkins 2016; numenta/htmresearch projects/sdr_paper/sdr_paper_unions.py
    at commit cdda48e, falseMatchvsM): the union's expected size n·(1 − (1 − w/n)^M), rounded, is used
    as s in false_match_probability.
    method="average": false_match_probability averaged over the exact distribution of the union
    size (union_size_pmf) — what a Monte Carlo over random unions measures.
    """
    n, w, _, _ = _check(n, w, 1, 0)
    M = check_int("M", M, low=1, high=MAX_SIZE)
    theta = check_int("theta", theta, low=0)
    a = w if a is None else check_int("a", a, low=1, high=n)
    method = check_choice("method", method, ("plugin", "average"))
    if method == "plugin":
        s = round(union_size_expected(n, w, M))
        return false_match_probability(n, a, s, theta) if theta <= s else 0.0
    pmf = union_size_pmf(n, w, M)
    us = [int(u) for u in np.flatnonzero(pmf > 1e-18) if theta <= u]
    _budget("n, w, M", n, a, sum(min(u, a) - theta + 1 for u in us))
    return float(sum(pmf[u] * false_match_probability(n, a, u, theta) for u in us))


def noisy_overlap_pmf(w: int, s: int, v: int) -> np.ndarray:
    """P(overlap = b), b = 0..s, between a segment of s synapses sampled from a stored w-bit SDR
    and a copy of that SDR with v of its w bits replaced: s minus the hypergeometric number of
    synapses whose bit was replaced, C(s, s−b)·C(w−s, v−s+b) / C(w, v). Its lower tail below theta
    is false_negative_probability."""
    w, s, v, _ = _check_noise(w, s, v)
    _budget("w, s, v", w, v, s + 1)
    total = comb(w, v)
    lost = [float(Fraction(comb(s, k) * comb(w - s, v - k), total)) if k <= v else 0.0 for k in range(s + 1)]
    return np.array(lost[::-1])  # index b = s − lost


def false_negative_probability(w: int, s: int, theta: int, v: int) -> float:
    """P(a segment of s synapses, sampled from a stored w-bit SDR, no longer reaches theta after
    v of the w active bits are replaced by noise) (Ahmad & Hawkins 2016, noise equation):

        FN = Σ_{b=s−θ+1}^{s} C(s,b)·C(w−s, v−b) / C(w,v)      (b = synapses whose bit was lost)
    """
    w, s, v, theta = _check_noise(w, s, v, theta)
    _budget("w, s, v", w, v, max(0, min(s, v) - (s - theta + 1) + 1))
    num = sum(comb(s, b) * comb(w - s, v - b) for b in range(s - theta + 1, min(s, v) + 1))
    return float(Fraction(num, comb(w, v)))


def willshaw_fill(n: int, w: int, M: int, *, auto: bool = True) -> float:
    """Expected fraction of synapses set after storing M random pairs in a Willshaw net
    (Willshaw, Buneman & Longuet-Higgins 1969): p1 = 1 − (1 − q)^M with q = w(w−1)/(n(n−1)) for
    an auto-associative net (the off-diagonal synapse i→j needs both bits in one pattern), or
    q = (w/n)² for independent cue and target."""
    n, w, _, _ = _check(n, w, 1, 0)
    M = check_int("M", M, low=0, high=MAX_SIZE)
    auto = check_bool("auto", auto)
    if auto:
        q = w * (w - 1) / (n * (n - 1)) if n > 1 else 0.0
    else:
        q = (w / n) ** 2
    return float(-np.expm1(M * log1p(-q))) if q < 1 else (1.0 if M else 0.0)


def willshaw_false_units(n: int, w: int, M: int, *, auto: bool = True) -> float:
    """Expected spurious units on recall from a full cue: (n − w)·p1^w (ignores correlations,
    so it underestimates the measured count, cf. Knoblauch 2003)."""
    p1 = willshaw_fill(n, w, M, auto=auto)  # checks the arguments
    return (n - w) * p1 ** w
