"""E/I reservoirs: excitatory and inhibitory units (Dale's law), the E/I balance as a global knob, and a
local rule that adapts each unit's inhibition toward a target firing rate.

The claims come from the abstract of Srinivasan, Plenz & Girvan, "Boosting Reservoir Computing with
Brain-inspired Adaptive Dynamics" (arXiv:2504.12480, 2025): reservoirs "perform best in balanced or
slightly over-inhibited regimes"; a "self-adapting mechanism that locally adjusts E/I balance to achieve
target neuronal firing rates" improves "up to 130%" on memory capacity and time series prediction over
"globally tuned RCs"; heterogeneous target rates help further. The model below is labkit's small
construction in that spirit, not the paper's code or exact equations:

  W       = s (W_E - diag(omega) W_I)                      Dale's law: column j of W_E (W_I) is non-zero
                                                           only for excitatory (inhibitory) units j
  W_E, W_I  |N(0, 1)| magnitudes; each unit receives rc_connectivity n_E excitatory and rc_connectivity n_I
            inhibitory inputs (fixed in-degree, at least one of each), and its inhibitory weights are
            scaled so that its row of W_E - W_I sums to zero: omega_i = 1 is exactly balanced, omega_i is
            unit i's I/E ratio (the balanced random E/I matrices of Rajan & Abbott 2006, PRL 97:188104)
  s       = sr / rho(W_E - W_I)                            sr: spectral radius of the balanced matrix
  omega_i = balance  (global tuning: one number; > 1 over-inhibited, < 1 excitation-dominated)
  x[t]    = (1 - lr) x[t-1] + lr sigmoid(W x[t-1] + Win u[t] + bias)      rates in (0, 1)
  adaptation (local, per unit, while driven by the task input; then frozen and the readout trained):
  omega_i <- max(0, omega_i + eta (x_i[t] - rho_i))       more inhibition when a unit fires above its
            target rho_i: the postsynaptic form of Vogels et al. 2011 (Science 334:1569, Eq. 1,
            dw = eta (pre)(post - rho0)) with the presynaptic factor summed into a per-unit gain.
  rho_i   = target (homogeneous), or U(target (1 - heterogeneity), target (1 + heterogeneity)).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from labkit.reservoir import kernels
from labkit.reservoir.esn import ACTIVATIONS, ESN
from labkit.reservoir.weights import random_Win, spectral_radius
from labkit.validate import check_array, check_float, check_int, check_seed, fail

__all__ = ["EIESN", "target_rates", "adapt_states", "ei_sweep", "adapt_compare", "ei_study"]


def target_rates(units: int, target: float = 0.2, heterogeneity: float = 0.0, seed=None) -> np.ndarray:
    """(units,) target rates: all `target` (heterogeneity 0) or uniform in target (1 -+ heterogeneity)."""
    units = check_int("units", units, 1, 1_000_000)
    target = check_float("target", target, 0.0, 1.0, low_open=True, high_open=True)
    heterogeneity = check_float("heterogeneity", heterogeneity, 0.0, 1.0, high_open=True)
    rng = np.random.default_rng(check_seed("seed", seed))
    rho = target * (1.0 + heterogeneity * rng.uniform(-1.0, 1.0, size=units))
    return np.clip(rho, 1e-3, 1.0 - 1e-3)


def adapt_states(W_E, W_I, drive, x0, lr, activation, omega, rho, eta, scale):
    """The readable adaptation loop: (states (T, N), omega (N,)) after T steps of the rule above."""
    f, x, omega = ACTIVATIONS[activation], x0.copy(), omega.copy()
    out = np.empty_like(drive)
    for t in range(len(drive)):
        exc, inh = W_E @ x, W_I @ x
        x = (1 - lr) * x + lr * f(scale * (exc - omega * inh) + drive[t])
        omega = np.maximum(omega + eta * (x - rho), 0.0)   # local: each unit sees only its own rate
        out[t] = x
    return out, omega


class EIESN(ESN):
    """Echo state network with excitatory and inhibitory units (Dale's law) and a per-unit inhibitory gain.

    exc_fraction: share of excitatory units; balance: the initial inhibitory gain of every unit (1:
    balanced, > 1 over-inhibited); sr: spectral radius of the balanced W. Other parameters as ESN
    (activation defaults to "sigmoid": rates in (0, 1)). `adapt(X, target, ...)` moves each unit's gain
    toward its target rate; fit / predict / generate / memory_capacity then use the adapted W.
    """

    def __init__(self, units: int = 100, exc_fraction: float = 0.8, balance: float = 1.0, lr: float = 1.0,
                 sr: float = 1.0, input_scaling: float = 1.0, rc_connectivity: float = 0.1,
                 input_connectivity: float = 0.1, bias=0.0, ridge: float = 0.0, activation: str = "sigmoid",
                 seed=None, backend: str = "fast"):
        super().__init__(units=units, lr=lr, sr=sr, input_scaling=input_scaling, rc_connectivity=rc_connectivity,
                         input_connectivity=input_connectivity, bias=bias, ridge=ridge, activation=activation,
                         seed=seed, backend=backend)
        if self.units < 2:
            raise fail("units", "at least 2 (one excitatory and one inhibitory unit)", self.units)
        self.exc_fraction = check_float("exc_fraction", exc_fraction, 0.0, 1.0, low_open=True, high_open=True)
        self.n_exc = int(round(self.units * self.exc_fraction))
        if not 1 <= self.n_exc <= self.units - 1:
            raise fail("exc_fraction", f"a share leaving at least one excitatory and one inhibitory unit of "
                       f"{self.units}", self.exc_fraction)
        self.balance = check_float("balance", balance, 0.0)
        self.W_E_ = self.W_I_ = self.omega_ = self.rho_ = None
        self.scale_ = None

    # -- the weights: Dale's law, balanced at omega = 1 -------------------------------------------------
    def _init_weights(self, inputs: int) -> None:
        if self.Win_ is not None and self.Win_.shape[1] != inputs:
            raise fail("X", f"{self.Win_.shape[1]} input features (Win has {self.Win_.shape[1]} columns)",
                       f"{inputs}", described=True)
        if self.W_E_ is not None:
            return
        rng_win, rng_w = np.random.default_rng(self.seed).spawn(2)
        n, n_e = self.units, self.n_exc
        k_e = max(1, round(self.rc_connectivity * n_e))         # fixed in-degrees (Brunel 2000, J Comput
        k_i = max(1, round(self.rc_connectivity * (n - n_e)))   # Neurosci 8:183): every unit has E and I inputs
        pre_e = np.sort(rng_w.random((n, n_e)).argsort(axis=1)[:, :k_e], axis=1)
        pre_i = n_e + np.sort(rng_w.random((n, n - n_e)).argsort(axis=1)[:, :k_i], axis=1)
        w_e = np.abs(rng_w.standard_normal((n, k_e)))
        w_i = np.abs(rng_w.standard_normal((n, k_i)))
        w_i *= (w_e.sum(axis=1) / w_i.sum(axis=1))[:, None]   # each row exactly balanced at omega = 1
        rows_e, rows_i = np.repeat(np.arange(n), k_e), np.repeat(np.arange(n), k_i)
        W_E = sp.csr_matrix((w_e.ravel(), (rows_e, pre_e.ravel())), shape=(n, n))
        W_I = sp.csr_matrix((w_i.ravel(), (rows_i, pre_i.ravel())), shape=(n, n))
        rho = spectral_radius(W_E - W_I)
        self.scale_ = self.sr / rho if rho > 0 else 1.0
        self.W_E_, self.W_I_ = W_E, W_I
        self.omega_ = np.full(n, self.balance)
        self._set_W()
        if self.Win_ is None:
            self.Win_ = random_Win(n, inputs, self.input_scaling, self.input_connectivity, rng_win)

    def _set_W(self) -> None:
        self.W_ = (self.scale_ * (self.W_E_ - sp.diags(self.omega_) @ self.W_I_)).tocsr()

    @property
    def excitatory_(self) -> np.ndarray:
        """(units,) True for excitatory units."""
        return np.arange(self.units) < self.n_exc

    # -- the local rule ----------------------------------------------------------------------------------
    def adapt(self, X, target=0.2, eta: float = 0.01, epochs: int = 1, heterogeneity: float = 0.0,
              seed=0) -> "EIESN":
        """Run X (T, inputs) `epochs` times from the zero state, moving each unit's inhibitory gain omega_i
        toward its target rate (a number, or (units,) rates in (0, 1); `heterogeneity` > 0 draws them
        around `target` with `seed`). W is then frozen at the adapted gains; any readout is cleared.
        Inhibition can only lower a rate: a target above the unit's rate at omega = 0 is out of reach."""
        X = self._inputs("X", X)
        if isinstance(target, (int, float, np.integer, np.floating)) and not isinstance(target, bool):
            rho = target_rates(self.units, target, heterogeneity, seed)
        else:
            rho = check_array("target", target, shape=(self.units,), dtype=np.float64)
            if np.any((rho <= 0) | (rho >= 1)):
                raise fail("target", "rates in (0, 1)", f"values in [{rho.min():.3g}, {rho.max():.3g}]",
                           described=True)
        eta = check_float("eta", eta, 0.0)
        epochs = check_int("epochs", epochs, 1, 10_000)
        drive = X @ self.Win_.T + self.bias
        omega = self.omega_
        for _ in range(epochs):
            x0 = np.zeros(self.units)
            if self.backend == "readable":
                _, omega = adapt_states(self.W_E_, self.W_I_, drive, x0, self.lr, self.activation, omega, rho, eta,
                                        self.scale_)
            else:
                We, Wi = self.W_E_, self.W_I_
                _, omega = kernels.ei_adapt(*kernels.csr(We), *kernels.csr(Wi), drive, x0,
                                            self.lr, kernels.ACTIVATIONS[self.activation], omega, rho, eta,
                                            self.scale_)
        self.omega_, self.rho_ = omega, rho
        self._set_W()
        self.readout_ = self.intercept_ = self.states_ = None
        self.state_ = np.zeros(self.units)
        return self

    def snapshot(self) -> dict:
        """ESN.snapshot() plus the E/I view per unit: `excitatory` (bool), `omega` (inhibitory gain),
        `exc_input` / `inh_input` (s * row sums of W_E and omega W_I), `ei_ratio` (inh / exc), `target`."""
        snap = super().snapshot()
        if self.W_E_ is None:
            return {**snap, "excitatory": self.excitatory_, "omega": None, "exc_input": None, "inh_input": None,
                    "ei_ratio": None, "target": None}
        exc_in = self.scale_ * np.asarray(self.W_E_.sum(axis=1)).ravel()
        inh_in = self.scale_ * self.omega_ * np.asarray(self.W_I_.sum(axis=1)).ravel()
        ratio = np.divide(inh_in, exc_in, out=np.full(self.units, np.nan), where=exc_in > 0)
        return {**snap, "excitatory": self.excitatory_, "omega": self.omega_.copy(), "exc_input": exc_in,
                "inh_input": inh_in, "ei_ratio": ratio, "target": None if self.rho_ is None else self.rho_.copy()}


# -- the experiments: performance across the E/I ratio, and adaptation against global tuning ------------
TASKS = ("memory_capacity", "mackey_glass")


def _values(name: str, values, check) -> list:
    """A non-empty list/tuple/range/array of values, each passed through `check(name, v)`."""
    if not isinstance(values, (list, tuple, range, np.ndarray)):
        raise fail(name, "a non-empty list", values)
    if len(values) == 0:
        raise fail(name, "a non-empty list", "an empty one", described=True)
    return [check(name, v.item() if isinstance(v, np.generic) else v) for v in values]


def _floats(name, values, low=0.0, high=None, high_open=False):
    return _values(name, values, lambda n, v: check_float(n, v, low, high, high_open=high_open))


def _seeds(name, values):
    return _values(name, values, lambda n, v: check_int(n, v, 0))


def _score(esn: EIESN, task: str, k_max: int, seed: int, adapt: dict | None) -> tuple[float, float]:
    """(score, mean rate): MC (sum of MC_k, higher is better) or Mackey-Glass forecast-10 NRMSE (lower)."""
    from labkit.reservoir.metrics import memory_capacity, nrmse
    from labkit.reservoir.tasks import mackey_glass, to_forecasting
    if task == "memory_capacity":
        drive = np.random.default_rng(10_000 + seed).uniform(-0.8, 0.8, size=(10 * k_max, 1))
        if adapt is not None:
            esn.adapt(drive, **adapt)
        rate = float(esn.run(drive, reset=True).mean())
        return float(memory_capacity(esn, k_max=k_max, seed=seed).sum()), rate
    X = mackey_glass(2510, tau=17)
    X = 2 * (X - X.min()) / (X.max() - X.min()) - 1        # reservoirpy's tutorial protocol, forecast 10
    x, y = to_forecasting(X, 10)
    if adapt is not None:
        esn.adapt(x[:2000], **adapt)
    esn.fit(x[:2000], y[:2000], warmup=100)
    return float(nrmse(y[2000:], esn.predict(x[2000:]))), float(esn.states_.mean())


def ei_sweep(balances=(0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0), task: str = "memory_capacity", seeds=range(5),
             k_max: int = 100, **params):
    """DataFrame (balance, seed, score, rate): one EIESN(balance=b, seed=s, **params) per point, scored on
    `task` ("memory_capacity": MC over delays 1..k_max; "mackey_glass": forecast-10 NRMSE)."""
    import pandas as pd

    from labkit.validate import check_choice
    check_choice("task", task, TASKS)
    balances, seeds = _floats("balances", balances), _seeds("seeds", seeds)
    k_max = check_int("k_max", k_max, 1, 100_000)
    rows = []
    for b in balances:
        for s in seeds:
            score, rate = _score(EIESN(balance=b, seed=s, **params), task, k_max, s, None)
            rows.append({"balance": float(b), "seed": int(s), "score": score, "rate": rate})
    return pd.DataFrame(rows)


def adapt_compare(task: str = "memory_capacity", seeds=range(5), balances=(0.5, 0.75, 1.0, 1.25, 1.5, 2.0),
                  targets=(0.1, 0.2, 0.3, 0.4, 0.5), heterogeneity: float = 0.5, eta: float = 0.01, epochs: int = 2,
                  k_max: int = 100, **params):
    """The three ways of setting E/I, each tuned over its one knob by the median score over seeds:

        global      one balance for all units (the grid `balances`)
        adaptive    each unit's gain adapted toward one target rate (the grid `targets`; start: balance 1)
        adaptive heterogeneous   targets drawn in target (1 -+ heterogeneity)

    Returns (runs, table): runs is a DataFrame (method, setting, seed, score, rate); table has one row per
    method at its best setting (median and quartiles of the score over seeds) and `gain_pct`, the
    improvement over the global one: MC_method / MC_global - 1, or NRMSE_global / NRMSE_method - 1."""
    import pandas as pd

    from labkit.validate import check_choice
    check_choice("task", task, TASKS)
    heterogeneity = check_float("heterogeneity", heterogeneity, 0.0, 1.0, high_open=True)
    targets = _floats("targets", targets, 0.0, 1.0, high_open=True)
    seeds, balances = _seeds("seeds", seeds), _floats("balances", balances)
    eta, epochs = check_float("eta", eta, 0.0), check_int("epochs", epochs, 1, 10_000)
    runs = ei_sweep(balances, task, seeds, k_max, **params).assign(method="global").rename(
        columns={"balance": "setting"})
    rows = []
    for method, h in (("adaptive", 0.0), ("adaptive heterogeneous", heterogeneity)):
        for target in targets:
            for s in seeds:
                adapt = dict(target=float(target), eta=eta, epochs=epochs, heterogeneity=h, seed=s)
                score, rate = _score(EIESN(balance=1.0, seed=s, **params), task, k_max, s, adapt)
                rows.append({"method": method, "setting": float(target), "seed": int(s), "score": score,
                             "rate": rate})
    runs = pd.concat([runs, pd.DataFrame(rows)], ignore_index=True)[["method", "setting", "seed", "score", "rate"]]
    higher = task == "memory_capacity"
    med = runs.groupby(["method", "setting"])["score"].median().reset_index()
    best = med.loc[med.groupby("method")["score"].idxmax() if higher else med.groupby("method")["score"].idxmin()]
    table = []
    for _, r in best.iterrows():
        sc = runs[(runs.method == r.method) & (runs.setting == r.setting)]["score"]
        table.append({"method": r.method, "best setting": r.setting, "median": sc.median(),
                      "q25": sc.quantile(0.25), "q75": sc.quantile(0.75)})
    table = pd.DataFrame(table).set_index("method").loc[["global", "adaptive", "adaptive heterogeneous"]]
    g = table.loc["global", "median"]
    table["gain_pct"] = 100 * ((table["median"] / g - 1) if higher else (g / table["median"] - 1))
    return runs, table


# the settings of the study: sigmoid units with a threshold (bias -1: about 0.27 at balance), as below
STUDY = {"memory_capacity": dict(sr=3.6, lr=1.0, input_scaling=0.2, input_connectivity=1.0, ridge=1e-6, bias=-1.0),
         "mackey_glass": dict(sr=3.6, lr=0.3, input_scaling=1.0, input_connectivity=0.2, ridge=1e-8, bias=-1.0)}


def ei_study(seeds=range(5), units: int = 100) -> dict:
    """`adapt_compare` on both tasks with the STUDY settings: {"sweep": DataFrame (task, balance: median
    score and rate over seeds), "tables": {task: table}, "records": the headline numbers by record key}."""
    import pandas as pd
    units = check_int("units", units, 10, 5000)
    seeds = _seeds("seeds", seeds)
    sweeps, tables = [], {}
    for task, params in STUDY.items():
        runs, tables[task] = adapt_compare(task, seeds=seeds, units=units, **params)
        g = runs[runs.method == "global"].groupby("setting")[["score", "rate"]].median().reset_index()
        sweeps.append(g.rename(columns={"setting": "balance"}).assign(task=task))
    mc, mg = tables["memory_capacity"], tables["mackey_glass"]
    records = {"ei_best_balance_mc": float(mc.loc["global", "best setting"]),
               "ei_best_balance_mg": float(mg.loc["global", "best setting"]),
               "ei_adapt_gain_mc_pct": float(mc.loc["adaptive", "gain_pct"]),
               "ei_adapt_gain_mg_pct": float(mg.loc["adaptive", "gain_pct"]),
               "ei_hetero_gain_mc_pct": float(mc.loc["adaptive heterogeneous", "gain_pct"]),
               "ei_hetero_gain_mg_pct": float(mg.loc["adaptive heterogeneous", "gain_pct"])}
    records["ei_best_gain_pct"] = max(v for k, v in records.items() if k.endswith("_pct"))
    return {"sweep": pd.concat(sweeps, ignore_index=True)[["task", "balance", "score", "rate"]], "tables": tables,
            "records": records}
