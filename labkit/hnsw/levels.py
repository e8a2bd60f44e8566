"""Node levels exactly as hnswlib 0.8.0 draws them.

hnswlib (tag v0.8.0, commit 3f3429661187e4c24a490a0f148fc6bc89042b3d, `hnswlib/hnswalg.h`
L207 `getRandomLevel`) draws level = floor(-ln(U) * mult) with mult = 1/ln(M)
(Malkov & Yashunin 2018, Alg. 1 line 4) and U from `std::uniform_real_distribution<double>(0, 1)`
over `std::default_random_engine` seeded with `random_seed`. With libstdc++ (the Linux wheels):

* `default_random_engine` is `minstd_rand0`: x <- 16807 x mod (2^31 - 1), outputs in [1, 2^31 - 2];
* `generate_canonical<double, 53>` takes k = ceil(53 / log2(R)) = 2 draws with R = 2^31 - 2:
  U = ((g1 - 1) + (g2 - 1) R) / R^2, and the largest double below 1 if that rounds up to 1.

Replaying this gives hnswlib's level for every node of a single-threaded build (tested).
"""

from __future__ import annotations

import math

import numpy as np

from labkit.base import Estimator
from labkit.validate import check_float, check_int

_MODULUS = 2**31 - 1      # minstd_rand0
_MULTIPLIER = 16807
_RANGE = float(2**31 - 2)  # engine max - min + 1
_BELOW_ONE = math.nextafter(1.0, 0.0)


class LevelGenerator(Estimator):
    """hnswlib's level generator; `seed` is hnswlib's `random_seed` (default 100)."""

    def __init__(self, seed: int = 100):
        self.seed = check_int("seed", seed, low=0)
        x = self.seed % _MODULUS
        self.state = x if x != 0 else 1  # minstd seeds 0 as 1

    def _draw(self) -> int:
        self.state = (self.state * _MULTIPLIER) % _MODULUS
        return self.state

    def uniform(self) -> float:
        """One `uniform_real_distribution<double>(0, 1)` draw (generate_canonical<double, 53>)."""
        g1 = self._draw() - 1
        g2 = self._draw() - 1
        u = (g1 + g2 * _RANGE) / (_RANGE * _RANGE)
        return _BELOW_ONE if u >= 1.0 else u

    def level(self, mult: float) -> int:
        """floor(-ln(U) * mult), as `(int)` truncation in hnswlib."""
        mult = check_float("mult", mult, low=0.0, low_open=True)
        return self._level(mult)

    def _level(self, mult: float) -> int:
        u = self.uniform()
        return int(-math.log(u) * mult) if u > 0 else 0

    def levels(self, n: int, mult: float) -> np.ndarray:
        """The next `n` levels, (n,) int32."""
        n = check_int("n", n, low=0, high=2**32 - 1)  # one per element: hnswlib's ids are 32-bit (tableint)
        mult = check_float("mult", mult, low=0.0, low_open=True)
        return np.fromiter((self._level(mult) for _ in range(n)), dtype=np.int32, count=n)


def default_mult(M: int) -> float:
    """mult = 1 / ln(M): P(level >= l) = M^-l (Malkov & Yashunin 2018, section 4.1)."""
    return 1.0 / math.log(check_int("M", M, low=2))
