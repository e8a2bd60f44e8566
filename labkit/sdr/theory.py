"""Exact SDR theory: false matches, unions, noise (Ahmad & Hawkins 2015, 2016), Willshaw fill.

Every probability is a ratio of exact integers (`math.comb`), divided once at the end, so values
like 2.5e-14 come out to full double precision. Names follow the 2016 paper: a random SDR has
`w` (their `a`) active bits out of `n`; a dendritic segment or stored SDR holds `s` synapses and
fires when at least `theta` of them see an active bit.
"""

from __future__ import annotations

from fractions import Fraction
from math import comb, log1p

import numpy as np


def _int(x, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise ValueError(f"{name}: expected an int, got {x!r}")
    return int(x)


def _check(n, w, s, theta):
    n, w, s, theta = _int(n, "n"), _int(w, "w"), _int(s, "s"), _int(theta, "theta")
    if n <= 0:
        raise ValueError(f"n: expected n > 0, got {n}")
    if not 0 < w <= n:
        raise ValueError(f"w: expected 0 < w <= n={n}, got {w}")
    if not 0 < s <= n:
        raise ValueError(f"s: expected 0 < s <= n={n}, got {s}")
    if not 0 <= theta <= s:
        raise ValueError(f"theta: expected 0 <= theta <= s={s}, got {theta}")
    return n, w, s, theta


def capacity(n: int, w: int) -> int:
    """C(n, w): the number of distinct SDRs with w of n bits on (2015, eq. 2)."""
    n, w, _, _ = _check(n, w, 1, 0)
    return comb(n, w)


def overlap_pmf(n: int, w: int, s: int) -> np.ndarray:
    """P(|x ∩ S| = b) for b = 0..s, x a random w-of-n SDR and S a fixed set of s bits:
    the hypergeometric C(s,b)·C(n−s, w−b) / C(n,w) (2016, eq. 1's summand)."""
    n, w, s, _ = _check(n, w, s, 0)
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
    num = sum(comb(s, b) * comb(n - s, w - b) for b in range(theta, min(s, w) + 1))
    return float(Fraction(num, comb(n, w)))


def union_size_expected(n: int, w: int, M: int) -> float:
    """E|union of M random w-of-n SDRs| = n·(1 − p0), p0 = (1 − w/n)^M (2016, "Unions")."""
    return n * (1.0 - (1.0 - w / n) ** M)


def union_size_pmf(n: int, w: int, M: int) -> np.ndarray:
    """Exact distribution of the union size after OR-ing M independent random w-of-n SDRs:
    P[u] for u = 0..n. Adding an SDR to a union of size u adds w − b new bits where the overlap
    b is hypergeometric(n, u, w) — a Markov chain over u, run M steps."""
    n, w, _, _ = _check(n, w, 1, 0)
    M = _int(M, "M")
    if M < 0:
        raise ValueError(f"M: expected M >= 0, got {M}")
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

    method="plugin" (Ahmad & Hawkins 2016 and Numenta's sdr_paper_unions.py): the union's
    expected size n·(1 − (1 − w/n)^M), rounded, is used as s in false_match_probability.
    method="average": false_match_probability averaged over the exact distribution of the union
    size (union_size_pmf) — what a Monte Carlo over random unions measures.
    """
    n, w, _, _ = _check(n, w, 1, 0)
    M, theta = _int(M, "M"), _int(theta, "theta")
    a = w if a is None else _int(a, "a")
    if M < 1:
        raise ValueError(f"M: expected M >= 1, got {M}")
    if not 0 < a <= n:
        raise ValueError(f"a: expected 0 < a <= n={n}, got {a}")
    if theta < 0:
        raise ValueError(f"theta: expected theta >= 0, got {theta}")
    if method == "plugin":
        s = round(union_size_expected(n, w, M))
        return false_match_probability(n, a, s, theta) if theta <= s else 0.0
    if method == "average":
        pmf = union_size_pmf(n, w, M)
        us = np.flatnonzero(pmf > 1e-18)
        return float(sum(pmf[u] * false_match_probability(n, a, int(u), theta) for u in us if theta <= u))
    raise ValueError(f"method: expected 'plugin' or 'average', got {method!r}")


def noisy_overlap_pmf(w: int, s: int, v: int) -> np.ndarray:
    """P(overlap = b), b = 0..s, between a segment of s synapses sampled from a stored w-bit SDR
    and a copy of that SDR with v of its w bits replaced: s minus the hypergeometric number of
    synapses whose bit was replaced, C(s, s−b)·C(w−s, v−s+b) / C(w, v). Its lower tail below theta
    is false_negative_probability."""
    w, s, v = _int(w, "w"), _int(s, "s"), _int(v, "v")
    if w <= 0:
        raise ValueError(f"w: expected w > 0, got {w}")
    if not 0 < s <= w:
        raise ValueError(f"s: expected 0 < s <= w={w}, got {s}")
    if not 0 <= v <= w:
        raise ValueError(f"v: expected 0 <= v <= w={w}, got {v}")
    total = comb(w, v)
    lost = [float(Fraction(comb(s, k) * comb(w - s, v - k), total)) if k <= v else 0.0 for k in range(s + 1)]
    return np.array(lost[::-1])  # index b = s − lost


def false_negative_probability(w: int, s: int, theta: int, v: int) -> float:
    """P(a segment of s synapses, sampled from a stored w-bit SDR, no longer reaches theta after
    v of the w active bits are replaced by noise) (Ahmad & Hawkins 2016, noise equation):

        FN = Σ_{b=s−θ+1}^{s} C(s,b)·C(w−s, v−b) / C(w,v)      (b = synapses whose bit was lost)
    """
    w, s, theta, v = _int(w, "w"), _int(s, "s"), _int(theta, "theta"), _int(v, "v")
    if w <= 0:
        raise ValueError(f"w: expected w > 0, got {w}")
    if not 0 < s <= w:
        raise ValueError(f"s: expected 0 < s <= w={w}, got {s}")
    if not 0 <= theta <= s:
        raise ValueError(f"theta: expected 0 <= theta <= s={s}, got {theta}")
    if not 0 <= v <= w:
        raise ValueError(f"v: expected 0 <= v <= w={w}, got {v}")
    num = sum(comb(s, b) * comb(w - s, v - b) for b in range(s - theta + 1, min(s, v) + 1))
    return float(Fraction(num, comb(w, v)))


def willshaw_fill(n: int, w: int, M: int, *, auto: bool = True) -> float:
    """Expected fraction of synapses set after storing M random pairs in a Willshaw net
    (Willshaw, Buneman & Longuet-Higgins 1969): p1 = 1 − (1 − q)^M with q = w(w−1)/(n(n−1)) for
    an auto-associative net (the off-diagonal synapse i→j needs both bits in one pattern), or
    q = (w/n)² for independent cue and target."""
    n, w, _, _ = _check(n, w, 1, 0)
    M = _int(M, "M")
    q = w * (w - 1) / (n * (n - 1)) if auto else (w / n) ** 2
    return -np.expm1(M * log1p(-q)) if q < 1 else 1.0


def willshaw_false_units(n: int, w: int, M: int, *, auto: bool = True) -> float:
    """Expected spurious units on recall from a full cue: (n − w)·p1^w (ignores correlations,
    so it underestimates the measured count, cf. Knoblauch 2003)."""
    return (n - w) * willshaw_fill(n, w, M, auto=auto) ** w
