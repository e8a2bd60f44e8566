"""CodingField: a Sparsey coding field — Q winner-take-all modules of K binary units (Rinkus).

    field = CodingField(Q=16, K=16, n_inputs=1024, seed=0)
    code = field.store(x)            # one-shot: CSA with noise, then binary Hebbian learning
    field.retrieve(cue)              # best match: argmax of the input summation in each module
    field.encode(x)                  # the CSA without learning (similarity studies)
    field.familiarity(x)             # G in [0, 1]

A code is one winner per competitive module (CM), so every code has exactly Q active units and
the similarity of two codes is the size of their intersection (Rinkus, "Superposed episodic and
semantic memory via sparse distributed representation", arXiv, §2). Learning is single-trial:
storing x sets the weight from every active input bit to every winner to 1. The Code Selection
Algorithm (CSA; Rinkus 2010, Front. Neuroanat. 4:17, Table 1; Rinkus 2014, Front. Comput.
Neurosci. 8:160, "Sparsey") lowers the noise of the winner draw as the input's familiarity G
rises: a familiar input reinstates its code, a novel one gets a fresh random code, and similar
inputs get similar codes. The functional forms of eta(G) and of the V-to-mu sigmoid differ
between those papers; the ones used here are written out at each step below.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import spearmanr

from labkit.base import Estimator
from labkit.sdr.sdr import SDR, as_rng, check_binary
from labkit.validate import check_array, check_bool, check_choice, check_float, check_int, check_seed, fail, type_fail

__all__ = ["CodingField", "capacity_curve", "similarity_curve"]

MAX_WEIGHTS = 2**28  # n_inputs * Q * K binary weights (256 MiB)


class CodingField(Estimator):
    """Q competitive modules (CMs) of K binary units, fully connected from n_inputs binary inputs.

    Hyper-parameters of the CSA (symbols of Rinkus 2010 in brackets):
      sigmoid_height    [chi]    log eta at full familiarity G = 1: a unit with V = 1 outweighs
                                 one with V = 0 by e^chi in the winner draw (default 15).
      sigmoid_width     [1/lambda] width of the V-to-mu sigmoid's rise, in units of V (default 0.3).
      sigmoid_center    [phi]    its inflection point in V (default 0.5).
      familiarity_power [gamma]  log eta = chi * G'^gamma, G' = (G - G-) / (1 - G-) (default 4).
      familiarity_floor [G-]     G at or below which eta = 1, a fully random code (default 0: off).
      v_to_mu           "geometric" (default): mu = eta^s(V), the sigmoid shapes log mu, so a
                        unit's odds fall geometrically with its shortfall from the best V and a
                        stored input keeps its code in a loaded field; "linear": mu = 1 + (eta - 1)
                        s(V), the paper's form, where every unit above the sigmoid's rise ties.
    With the defaults a stored input reinstates its code with near certainty (G = 1), inputs
    sharing under ~40% of their bits with every stored one get nearly random codes, and above
    that the code overlap climbs steeply to Q. `seed` (int, None or Generator) drives every draw.
    """

    def __init__(self, Q: int, K: int, n_inputs: int, seed=None, *, sigmoid_height: float = 15.0,
                 sigmoid_width: float = 0.3, sigmoid_center: float = 0.5, familiarity_power: float = 4.0,
                 familiarity_floor: float = 0.0, v_to_mu: str = "geometric"):
        self.Q = check_int("Q", Q, low=1)
        self.K = check_int("K", K, low=2)
        self.n_inputs = check_int("n_inputs", n_inputs, low=1)
        if self.n_inputs * self.Q * self.K > MAX_WEIGHTS:
            raise fail("n_inputs", f"n_inputs·Q·K <= {MAX_WEIGHTS} weights", self.n_inputs * self.Q * self.K)
        self.sigmoid_height = check_float("sigmoid_height", sigmoid_height, 0.0, 500.0, low_open=True)
        self.sigmoid_width = check_float("sigmoid_width", sigmoid_width, 0.0, 10.0, low_open=True)
        self.sigmoid_center = check_float("sigmoid_center", sigmoid_center, 0.0, 1.0)
        self.familiarity_power = check_float("familiarity_power", familiarity_power, 0.0, 100.0, low_open=True)
        self.familiarity_floor = check_float("familiarity_floor", familiarity_floor, 0.0, 0.999)
        self.v_to_mu = check_choice("v_to_mu", v_to_mu, ("geometric", "linear"))
        self.seed = check_seed("seed", seed)
        self._rng = as_rng(seed)
        # binary weights from input j to unit q*K + k (Rinkus 2010 §2: "binary, initially 0")
        self._W = np.zeros((self.n_inputs, self.Q * self.K), dtype=bool)
        self._codes: list[np.ndarray] = []
        self._last: dict | None = None

    # input checks ----------------------------------------------------------------------------
    def _active(self, x, name: str = "x") -> np.ndarray:
        """Sorted active input indices of x, an (n_inputs,) 0/1 or bool array or an SDR."""
        if isinstance(x, SDR):
            if x.n != self.n_inputs:
                raise fail(name, f"an SDR with n={self.n_inputs}", f"n={x.n}", described=True)
            active = x.active
        else:
            if x is None or isinstance(x, (dict, set)):
                raise type_fail(name, "a binary (0/1 or bool) array or an SDR", x)
            a = np.asarray(x)
            if a.dtype.kind not in "biuf":
                raise fail(name, "a binary (0/1 or bool) array or an SDR", f"dtype {a.dtype}", described=True)
            if a.ndim != 1 or a.size != self.n_inputs:
                raise fail(name, f"shape ({self.n_inputs},)", f"shape {a.shape}", described=True)
            active = np.flatnonzero(check_binary(a, name))
        if active.size == 0:
            raise fail(name, "at least one active bit (the CSA normalises by their number)",
                       "no active bits", described=True)
        return active

    def _rows(self, X, name: str = "X") -> list[np.ndarray]:
        if isinstance(X, (list, tuple)) and X and all(isinstance(s, SDR) for s in X):
            return [self._active(s, f"{name}[{i}]") for i, s in enumerate(X)]
        if X is None or isinstance(X, (str, bytes, dict, set)):
            raise type_fail(name, f"an (m, {self.n_inputs}) binary array or a list of SDRs", X)
        a = np.asarray(X)
        if a.ndim != 2 or a.shape[1] != self.n_inputs:
            raise fail(name, f"shape (m, {self.n_inputs}) or a list of SDRs", f"shape {a.shape}", described=True)
        return [self._active(row, f"{name}[{i}]") for i, row in enumerate(a)]

    def _check_code(self, code, name: str) -> np.ndarray:
        c = np.asarray(code)
        if c.shape != (self.Q,) or c.dtype.kind not in "iu" or (c.size and (c.min() < 0 or c.max() >= self.K)):
            raise fail(name, f"a ({self.Q},) int array of winners in [0, {self.K})", code)
        return c

    # the CSA ---------------------------------------------------------------------------------
    def _V(self, active: np.ndarray) -> np.ndarray:
        # CSA step 1-2: u(i) = sum_j x_j w(j,i); V(i) = u(i) / |x|, the fraction of the active
        # inputs whose weight onto unit i is set (Rinkus 2010 Table 1). Shape (Q, K).
        u = np.count_nonzero(self._W[active], axis=0)
        return (u / active.size).reshape(self.Q, self.K)

    @staticmethod
    def _G(V: np.ndarray) -> float:
        # CSA step 3-4: G = (1/Q) sum_q max_{i in CM q} V(i), the familiarity (Rinkus 2010 Table 1)
        return float(V.max(axis=1).mean())

    def _log_eta(self, G: float) -> float:
        # CSA step 5: expansivity eta = mu(V=1) / mu(V=0) grows with familiarity (Rinkus 2010
        # Table 1): log eta = chi * ((G - G-) / (1 - G-))^gamma for G > G-, else eta = 1 (random code).
        lo = self.familiarity_floor
        return self.sigmoid_height * ((G - lo) / (1.0 - lo)) ** self.familiarity_power if G > lo else 0.0

    def _log_mu(self, V: np.ndarray, log_eta: float) -> np.ndarray:
        # CSA step 6: the V-to-mu transform, a sigmoid s(V) (centre phi, width 1/lambda) rescaled
        # so that mu(0) = 1 and mu(1) = eta (Rinkus 2010 Table 1). "linear": mu = 1 + (eta - 1) s(V),
        # the paper's form; "geometric": mu = eta^s(V), the sigmoid shapes log mu (class doc).
        c, w = self.sigmoid_center, self.sigmoid_width
        s0, s1 = expit(-c / w), expit((1.0 - c) / w)
        s = (expit((V - c) / w) - s0) / (s1 - s0)
        if self.v_to_mu == "linear":
            return np.log1p(np.expm1(log_eta) * s)
        return log_eta * s

    def _csa(self, active: np.ndarray) -> np.ndarray:
        V = self._V(active)
        G = self._G(V)
        log_eta = self._log_eta(G)
        log_mu = self._log_mu(V, log_eta)
        # CSA step 7: rho(i) = mu(i) / sum_{k in CM} mu(k), the winner distribution per CM (Table 1)
        mu = np.exp(log_mu - log_mu.max(axis=1, keepdims=True))
        rho = mu / mu.sum(axis=1, keepdims=True)
        # CSA step 8: draw one winner per CM from rho (Rinkus 2010 Table 1)
        cdf = np.cumsum(rho, axis=1)
        r = self._rng.random(self.Q)[:, None] * cdf[:, -1:]
        code = np.minimum(np.count_nonzero(cdf < r, axis=1), self.K - 1).astype(np.int64)
        self._last = {"G": G, "eta": math.exp(log_eta), "log_eta": log_eta, "V": V, "rho": rho, "code": code.copy()}
        return code

    # public API ------------------------------------------------------------------------------
    def encode(self, x, learn: bool = False) -> np.ndarray:
        """The CSA with its G-dependent noise: (Q,) int64 winners; stores x too when `learn`."""
        learn = check_bool("learn", learn)
        active = self._active(x)
        code = self._csa(active)
        if learn:
            self._learn(active, code)
        return code

    def store(self, x) -> np.ndarray:
        """One-shot learning of x: choose its code by the CSA, then learn. Returns (Q,) winners."""
        return self.encode(x, learn=True)

    def store_batch(self, X) -> np.ndarray:
        """Store the rows of X, (m, n_inputs) 0/1 (or a list of SDRs), in order. Returns (m, Q)."""
        rows = self._rows(X)
        out = np.empty((len(rows), self.Q), dtype=np.int64)
        for i, active in enumerate(rows):
            out[i] = self._csa(active)
            self._learn(active, out[i])
        return out

    def _learn(self, active: np.ndarray, code: np.ndarray) -> None:
        # Hebbian, binary, single trial: w(j, i) <- 1 for every active input j and winner i
        # (Rinkus 2010 §2, "learning"); weights never decrease.
        units = np.arange(self.Q) * self.K + code
        self._W[np.ix_(active, units)] = True
        self._codes.append(np.array(code, dtype=np.int64))

    def retrieve(self, x) -> np.ndarray:
        """Best match, no noise, no learning: argmax_k V per CM (ties -> lowest k). (Q,) int64."""
        return self._V(self._active(x)).argmax(axis=1).astype(np.int64)

    def retrieve_batch(self, X) -> np.ndarray:
        """retrieve() of each row of X (m, n_inputs); returns (m, Q)."""
        rows = self._rows(X)
        out = np.empty((len(rows), self.Q), dtype=np.int64)
        for i, active in enumerate(rows):
            out[i] = self._V(active).argmax(axis=1)
        return out

    def familiarity(self, x) -> float:
        """G in [0, 1]: mean over CMs of the largest normalised input summation V (CSA steps 1-4)."""
        return self._G(self._V(self._active(x)))

    def code_overlap(self, c1, c2) -> int:
        """|c1 ∩ c2|: the number of CMs with the same winner (Rinkus 2014, §2)."""
        return int(np.count_nonzero(self._check_code(c1, "c1") == self._check_code(c2, "c2")))

    @property
    def weights(self) -> np.ndarray:
        """(n_inputs, Q*K) bool, read-only; column q*K + k is unit k of CM q."""
        v = self._W.view()
        v.setflags(write=False)
        return v

    @property
    def codes_(self) -> np.ndarray:
        """(n_stored, Q) int64: the code of every stored item, in storage order."""
        return np.array(self._codes, dtype=np.int64).reshape(len(self._codes), self.Q)

    @property
    def n_stored(self) -> int:
        return len(self._codes)

    @property
    def fill_fraction(self) -> float:
        """Fraction of the n_inputs * Q * K weights that are set."""
        return np.count_nonzero(self._W) / self._W.size

    def snapshot(self) -> dict:
        """Plain data for an inspector: Q, K, n_inputs, n_stored, fill_fraction, unit_fill (Q, K)
        (fraction of each unit's input weights set), params; and from the last CSA run (store or
        encode; None before the first): G, eta, V (Q, K) normalised input summation (also as u),
        rho (Q, K) winner probabilities, code (Q,). params["seed"] is None when the field was
        made from a numpy Generator (not plain data)."""
        last = self._last or {}
        copy = (lambda k: None if k not in last else np.array(last[k]))
        params = self.get_params()
        if isinstance(params["seed"], np.random.Generator):
            params["seed"] = None
        return {"Q": self.Q, "K": self.K, "n_inputs": self.n_inputs, "n_stored": self.n_stored,
                "fill_fraction": self.fill_fraction,
                "unit_fill": self._W.mean(axis=0).reshape(self.Q, self.K),
                "G": last.get("G"), "eta": last.get("eta"), "V": copy("V"), "u": copy("V"), "rho": copy("rho"),
                "code": copy("code"), "params": params}

    def __repr__(self) -> str:
        return (f"CodingField(Q={self.Q}, K={self.K}, n_inputs={self.n_inputs}, n_stored={self.n_stored}, "
                f"fill={self.fill_fraction:.3f})")


# experiments -------------------------------------------------------------------------------------
def _random_active(rng: np.random.Generator, n: int, w: int) -> np.ndarray:
    return np.sort(rng.choice(n, size=w, replace=False))


def _swap(rng: np.random.Generator, active: np.ndarray, n: int, v: int) -> np.ndarray:
    """active with v of its bits replaced by v bits that were off (overlap with active = w - v)."""
    keep = rng.choice(active, size=active.size - v, replace=False)
    off = np.setdiff1d(np.arange(n), active, assume_unique=True)
    return np.sort(np.concatenate([keep, rng.choice(off, size=v, replace=False)]))


def capacity_curve(Q: int, K: int, n_inputs: int, w: int, n_items_list, noise: float = 0.2, seed=0,
                   n_probe: int = 200, **field_kwargs) -> pd.DataFrame:
    """Retrieval accuracy from noisy cues as random w-of-n_inputs items are stored one-shot.

    Items are stored in one field up to each count in n_items_list (ascending); at each count
    n_probe stored items (drawn uniformly) are cued with v = round(noise * w) active bits swapped
    for inactive ones and retrieved. Columns: n_items, module_accuracy (mean fraction of CMs whose
    retrieved winner is the stored one), exact_fraction (items with every CM right),
    identified_fraction (retrieved code overlaps the item's own code more than any other stored
    code), distinct_codes (distinct stored codes / n_items: below 1 once the CSA hands novel
    items the code of a stored one, which module_accuracy then counts as right),
    fill_fraction, mean_familiarity (G of the cues), plus Q, K, n_inputs, w, noise.
    `seed` (int) fixes the items, cues and the field's draws; field_kwargs go to CodingField.
    """
    field_seed, data_seed = np.random.SeedSequence(check_int("seed", seed, low=0)).spawn(2)
    field = CodingField(Q, K, n_inputs, seed=np.random.default_rng(field_seed), **field_kwargs)  # checks Q, K, ...
    w = check_int("w", w, low=1, high=n_inputs)
    noise = check_float("noise", noise, 0.0, 1.0)
    v = int(round(noise * w))
    if v > n_inputs - w:
        raise fail("noise", f"a fraction of w whose {v} swapped bits fit in the n_inputs - w = {n_inputs - w} off bits",
                   noise)
    n_probe = check_int("n_probe", n_probe, low=1)
    counts = check_array("n_items_list", n_items_list, ndim=1, kind="integer", min_size=1)
    if counts.min() < 1 or counts.max() > 10**6:
        raise fail("n_items_list", "item counts in [1, 10**6]", counts)
    rng = np.random.default_rng(data_seed)
    items: list[np.ndarray] = []
    rows = []
    for n_items in sorted(set(counts.tolist())):
        while len(items) < n_items:
            items.append(_random_active(rng, n_inputs, w))
            field._learn(items[-1], field._csa(items[-1]))
        probe = rng.choice(n_items, size=min(n_probe, n_items), replace=False)
        stored = field.codes_[probe]
        cues = [_swap(rng, items[i], n_inputs, v) for i in probe]
        got = np.array([field._V(c).argmax(axis=1) for c in cues])
        hit = got == stored
        # identified: the retrieved code overlaps the item's own stored code more than any other's
        ov = (got[:, None, :] == field.codes_[None, :, :]).sum(axis=2)  # (n_probe, n_items)
        own = ov[np.arange(probe.size), probe]
        ov[np.arange(probe.size), probe] = -1
        identified = own > ov.max(axis=1)
        rows.append({"Q": Q, "K": K, "n_inputs": n_inputs, "w": w, "noise": noise, "n_items": n_items,
                     "module_accuracy": hit.mean(), "exact_fraction": hit.all(axis=1).mean(),
                     "identified_fraction": identified.mean(),
                     "distinct_codes": len(np.unique(field.codes_, axis=0)) / n_items,
                     "fill_fraction": field.fill_fraction,
                     "mean_familiarity": float(np.mean([field._G(field._V(c)) for c in cues]))})
    return pd.DataFrame(rows)


def similarity_curve(field_or_params, w: int, n_pairs: int = 41, seed=0) -> tuple[pd.DataFrame, float]:
    """Code overlap vs input overlap on a fresh field holding one stored base input.

    field_or_params: a CodingField (only its hyper-parameters are used; it is not touched) or a
    dict of CodingField arguments. A random w-bit base is stored, then n_pairs variants sharing
    input_overlap = linspace(0, w, n_pairs) bits with it are encoded with learn=False. Returns
    (DataFrame with input_overlap, code_overlap, familiarity; Spearman rank correlation of
    input_overlap and code_overlap) — the "similar inputs, similar codes" property (Rinkus 2014).
    """
    if isinstance(field_or_params, CodingField):
        params = field_or_params.get_params()
    elif isinstance(field_or_params, dict):
        params = dict(field_or_params)
    else:
        raise type_fail("field_or_params", "a CodingField or a dict of its arguments", field_or_params)
    n_pairs = check_int("n_pairs", n_pairs, low=2, high=10**5)
    field_seed, data_seed = np.random.SeedSequence(check_int("seed", seed, low=0)).spawn(2)
    params["seed"] = np.random.default_rng(field_seed)
    try:
        field = CodingField(**params)
    except (TypeError, ValueError) as e:  # say which argument of similarity_curve held it
        raise type(e)(f"field_or_params: {e}") from None
    n = field.n_inputs
    w = check_int("w", w, low=1)
    if 2 * w > n:
        raise fail("w", f"1 <= w <= n_inputs / 2 = {n // 2} (variants need w fresh bits)", w)
    rng = np.random.default_rng(data_seed)
    base = _random_active(rng, n, w)
    base_code = field.store(SDR(n, base))
    rows = []
    for overlap in np.rint(np.linspace(0, w, n_pairs)).astype(int):
        x = SDR(n, _swap(rng, base, n, w - overlap))
        code = field.encode(x, learn=False)
        rows.append({"input_overlap": int(overlap), "code_overlap": field.code_overlap(base_code, code),
                     "familiarity": field.snapshot()["G"]})
    df = pd.DataFrame(rows)
    rho = float(spearmanr(df["input_overlap"], df["code_overlap"]).statistic)
    df.attrs["spearman_rho"] = rho
    return df, rho
