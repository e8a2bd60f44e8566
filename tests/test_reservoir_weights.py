"""labkit.reservoir.weights: the spectral radius that sets a reservoir's dynamics, held to LAPACK's full spectrum."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from labkit.reservoir.weights import DENSE_EIG_MAX, random_W, spectral_radius

# (units, density, seed): the first six are draws where a 6-eigenvalue, 24-vector ARPACK search to full
# precision settled on a neighbour of the largest eigenvalue, 5e-7 to 8e-3 low (the search labkit used before)
DRAWS = [(1000, 0.1, 1000), (1000, 0.1, 1003), (1000, 0.1, 1012), (1000, 0.1, 1021), (1000, 0.02, 1001),
         (1000, 0.02, 1016), (301, 0.1, 7), (600, 0.005, 8), (800, 0.05, 9)]


def _draw(units, density, seed):
    rng = np.random.default_rng(seed)
    return sp.random(units, units, density=density, format="csr", random_state=rng,
                     data_rvs=lambda k: rng.standard_normal(k))


@pytest.mark.parametrize("units, density, seed", DRAWS)
def test_spectral_radius_is_the_largest_modulus_of_the_full_spectrum(units, density, seed):
    assert units > DENSE_EIG_MAX   # these go through ARPACK
    W = _draw(units, density, seed)
    exact = np.abs(np.linalg.eigvals(W.toarray())).max()
    assert spectral_radius(W) == pytest.approx(exact, rel=1e-8)   # ARPACK to tol 1e-7: measured within 2e-9


@pytest.mark.parametrize("units", [50, 400])
def test_random_W_has_the_requested_spectral_radius(units):
    W = random_W(units, 1.25, 0.1, np.random.default_rng(3))
    assert np.abs(np.linalg.eigvals(W.toarray())).max() == pytest.approx(1.25, rel=1e-9)
    assert W.nnz == round(0.1 * units * units)
