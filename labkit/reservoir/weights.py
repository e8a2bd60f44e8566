"""The reservoir's fixed random weights, drawn as reservoirpy 0.4.2 draws them (`reservoirpy/mat_gen.py`):

    W    (N, N)   sparse, density rc_connectivity, nonzeros ~ N(0, 1), rescaled so that its spectral
                  radius (largest |eigenvalue|) is exactly `sr` (Jaeger 2001, "The echo state approach",
                  GMD Report 148, §2: sr < 1 gives the echo state property for tanh units without bias)
    Win  (N, d)   sparse, density input_connectivity, nonzeros +-1 with probability 1/2, times input_scaling

Same distributions, not the same draws: labkit's ESN is exact against reservoirpy given the same arrays,
and statistically equal when each draws its own (tests/test_reservoir_esn.py).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigs

from labkit.validate import check_array, fail

__all__ = ["spectral_radius", "random_W", "random_Win", "orthogonal_W"]

DENSE_EIG_MAX = 300   # up to this size the spectrum is computed exactly (LAPACK), beyond it by ARPACK
# ARPACK (implicitly restarted Arnoldi) for the largest |eigenvalue| of a random sparse W. Its spectrum crowds
# the rim of a disc (Girko's circular law), so a small search can settle on a neighbour of the largest:
# reservoirpy's k = 1 did at n = 1000, density 0.1 (10.164 for 10.203), and k = 6 in a 24-vector space to full
# precision did in 12 of 240 draws at n = 300-2000, densities 0.005-0.1 (all at n >= 1000, up to 0.8 % low).
# Resolving 8 eigenvalues in a 64-vector space found the largest in all 240 (to 6e-12 at tol 1e-10; a 32-vector
# space missed 2 of 30 at n = 2000). A Ritz value is accepted once its error bound is at most tol * |Ritz value|
# (ARPACK's dnaupd.f, argument TOL): 1e-7 gave the largest to 2e-9 over
# 120 more draws (n = 1000-1500) in two thirds of the time 1e-10 takes (tests/test_reservoir_weights.py holds it
# to LAPACK's full spectrum, to 1e-8, on draws the old search missed by 5e-7 to 8e-3).
ARPACK_K, ARPACK_NCV, ARPACK_TOL = 8, 64, 1e-7


def _operator(W: sp.csr_matrix) -> LinearOperator:
    """W as ARPACK's matvec, by the ESN kernel's sparse product (kernels.csr_matvec: the same sums as
    scipy's, bit for bit, in half the time; ARPACK asks for 500-1200 of them)."""
    from labkit.reservoir.kernels import csr, csr_matvec
    indptr, indices, data = csr(W)

    def matvec(v):
        y = np.empty(W.shape[0])
        csr_matvec(indptr, indices, data, np.ascontiguousarray(v, dtype=np.float64).reshape(-1), y)
        return y
    return LinearOperator(W.shape, matvec=matvec, dtype=np.float64)


def spectral_radius(W) -> float:
    """Largest |eigenvalue| of a square (n, n) matrix, dense or scipy sparse."""
    if sp.issparse(W):
        if W.ndim != 2 or W.shape[0] != W.shape[1] or W.shape[0] == 0 or not np.isfinite(W.data).all():
            raise fail("W", "a non-empty square matrix of finite values", f"sparse {W.shape}", described=True)
    else:
        W = check_array("W", W, ndim=2, dtype=np.float64, min_size=1)
        if W.shape[0] != W.shape[1]:
            raise fail("W", "a square (n, n) matrix", f"shape {W.shape}", described=True)
    n = W.shape[0]
    if n <= DENSE_EIG_MAX or not sp.issparse(W):
        A = W.toarray() if sp.issparse(W) else np.asarray(W)
        return float(np.max(np.abs(np.linalg.eigvals(A))))
    try:
        vals = eigs(_operator(W.tocsr().astype(np.float64)), k=ARPACK_K, which="LM", return_eigenvectors=False,
                    maxiter=20 * n, ncv=ARPACK_NCV, tol=ARPACK_TOL, v0=np.ones(n))
    except ArpackNoConvergence:  # fall back to the exact spectrum
        return float(np.max(np.abs(np.linalg.eigvals(W.toarray()))))
    return float(np.abs(vals).max())


def random_W(units: int, sr: float, connectivity: float, rng: np.random.Generator) -> sp.csr_matrix:
    """(units, units) CSR: density `connectivity`, N(0, 1) nonzeros, spectral radius `sr`."""
    W = sp.random(units, units, density=connectivity, format="csr", random_state=rng,
                  data_rvs=lambda k: rng.standard_normal(k))
    rho = spectral_radius(W)
    if rho == 0:  # nilpotent draw (tiny or very sparse reservoirs): nothing to rescale
        return W
    return (W * (sr / rho)).tocsr()


def random_Win(units: int, inputs: int, input_scaling, connectivity: float, rng: np.random.Generator) -> np.ndarray:
    """(units, inputs) dense: density `connectivity`, nonzeros +-1, times input_scaling (a number or (inputs,))."""
    mask = rng.random((units, inputs)) < connectivity
    signs = np.where(rng.random((units, inputs)) < 0.5, -1.0, 1.0)
    return mask * signs * np.asarray(input_scaling, dtype=np.float64)


def orthogonal_W(units: int, sr: float = 1.0, seed=None) -> np.ndarray:
    """(units, units) dense sr * Q, Q Haar-random orthogonal (QR of a Gaussian matrix with the signs of R's
    diagonal folded into Q: Mezzadri 2007, "How to generate random matrices from the classical compact
    groups", Notices AMS 54:592, Sec. 5). Every eigenvalue has modulus sr, and the Krylov vectors
    W^k Win stay well conditioned: the reservoir a linear ESN needs to reach MC = N in practice."""
    from labkit.validate import check_float, check_int, check_seed
    units = check_int("units", units, 1, 20_000)
    sr = check_float("sr", sr, 0.0, low_open=True)
    A = np.random.default_rng(check_seed("seed", seed)).standard_normal((units, units))
    Q, R = np.linalg.qr(A)
    return sr * Q * np.sign(np.diag(R))
