"""`LSM`: a liquid state machine (Maass, Natschlaeger & Markram 2002, "Real-time computing without stable
states", Neural Computation 14(11):2531): a fixed random circuit of spiking neurons (the "liquid") driven
by the input, and a memoryless linear readout trained on its low-pass filtered spike trains.

    liquid     labkit.spiking.Network: LIF neurons, a fraction `inh_fraction` inhibitory, fixed in-degree
               p_connect, weights J and -g J, exponential synaptic currents (Brunel 2000, Sect. 2)
    input      u[t] (T, inputs) held for `steps_per_input` steps of dt, injected as the current
               Win u[t] + bias (mV), Win (units, inputs) ~ N(0, input_scaling^2) with density
               input_connectivity, bias_i ~ U(bias / 2, 3 bias / 2): heterogeneous gains and rheobases,
               so the population codes an analog input by who fires (Maass 2002, Sect. 2: the
               input reaches the liquid through fixed random synapses)
    state      x_i[t] = sum over spikes s of neuron i at steps t' <= t of exp(-(t - t') dt / tau_readout),
               sampled at the last step of each input (Maass 2002, Sect. 2: "low-pass filtered" spike
               trains, their time constant 30 ms); per block of k = steps_per_input steps this is
               x[n] = d^k x[n-1] + sum_j d^(k-1-j) s[(n-1)k + 1 + j],  d = exp(-dt / tau_readout)
    readout    ridge regression on x, as the ESN's (`esn.ridge_readout`, reservoirpy's `Ridge`)

Only the readout learns. Semantics: every `run` starts the liquid from the same initial state (the
network's seed draws v0 and its Poisson background identically each time), so a run is a pure function
of its input; to continue a series, pass the steps before it as `context` to `predict`. Sequences for
classification (`transform`, `fit_classes`) run back to back with `gap` silent steps between them and
the readout filter restarted at each sequence's first step.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import lfilter

from labkit.base import Estimator
from labkit.reservoir.esn import check_targets, ridge_readout
from labkit.spiking import Network
from labkit.validate import check_array, check_choice, check_float, check_int, check_seed, fail

__all__ = ["LSM", "spike_encode", "readout_states"]

MAX_UNITS = 20_000
ENCODINGS = ("poisson", "latency")


def spike_encode(X, n_steps: int = 40, kind: str = "poisson", max_rate: float = 200.0, dt: float = 1e-3,
                 seed=None) -> np.ndarray:
    """(n, n_steps, d) spike trains (0.0 / 1.0) for values X (n, d) in [0, 1].

    poisson  rate code: at each step a spike with probability x max_rate dt (a Bernoulli process, the
             discrete Poisson spike generator of Dayan & Abbott 2001, Theoretical Neuroscience, Sect. 1.4)
    latency  time-to-first-spike code: one spike at step round((1 - x)(n_steps - 1)), none for x = 0;
             brighter pixels fire earlier (Thorpe, Delorme & Van Rullen 2001, Neural Networks 14:715)
    """
    X = check_array("X", X, ndim=2, dtype=np.float64, min_size=1)
    if X.min() < 0.0 or X.max() > 1.0:
        raise fail("X", "values in [0, 1]", f"values in [{X.min():g}, {X.max():g}]", described=True)
    n_steps = check_int("n_steps", n_steps, low=1, high=100_000)
    kind = check_choice("kind", kind, ENCODINGS)
    dt = check_float("dt", dt, low=0.0, low_open=True)
    max_rate = check_float("max_rate", max_rate, low=0.0, high=1.0 / dt)
    rng = np.random.default_rng(check_seed("seed", seed))
    n, d = X.shape
    if kind == "poisson":
        return (rng.random((n, n_steps, d)) < X[:, None, :] * (max_rate * dt)).astype(np.float64)
    out = np.zeros((n, n_steps, d))
    rows, cols = np.nonzero(X > 0.0)
    out[rows, np.round((1.0 - X[rows, cols]) * (n_steps - 1)).astype(np.int64), cols] = 1.0
    return out


def readout_states(spikes, steps_per_input: int, decay: float) -> np.ndarray:
    """(T, N) filtered spike trains x[t] = decay x[t-1] + s[t], sampled at the last step of each block
    of `steps_per_input` steps, for spikes (T * steps_per_input, N). Equal to
    `SpikeResult.filtered(tau)[k-1::k]` (tests/test_reservoir_lsm.py), without the (T k, N) float array."""
    spikes = check_array("spikes", spikes, ndim=2, kind="numeric", min_size=1)
    k = check_int("steps_per_input", steps_per_input, low=1)
    decay = check_float("decay", decay, low=0.0, high=1.0)
    if spikes.shape[0] % k:
        raise fail("spikes", f"a multiple of steps_per_input = {k} rows", f"{spikes.shape[0]}", described=True)
    blocks = spikes.reshape(-1, k, spikes.shape[1])
    within = decay ** np.arange(k - 1, -1, -1.0)             # d^(k-1-j): spike j of a block, seen at its end
    inflow = np.einsum("j,tjn->tn", within, blocks.astype(np.float64))
    return lfilter([1.0], [1.0, -decay ** k], inflow, axis=0)   # x[n] = d^k x[n-1] + inflow[n]


class LSM(Estimator):
    """Liquid state machine: a fixed random spiking network (`labkit.spiking.Network`) and a ridge readout
    on its filtered spike trains. ESN-style API: fit / predict / run, plus transform / fit_classes /
    predict_classes for sequence classification.

    units, inh_fraction        neurons, and the fraction of them inhibitory (Maass 2002: 20 %)
    p_connect, J, g, eta       the Network's in-degree fraction, weight (mV), relative inhibition and
                               external Poisson drive (0: none, the liquid is driven by the input alone)
    input_scaling, input_connectivity, bias    the input current (see the module docstring), mV
    tau, tau_syn, threshold, v_reset, refractory, dt    the LIF neurons (seconds, mV)
    steps_per_input            simulation steps each input value is held for
    tau_readout                the readout filter's time constant (seconds)
    ridge, seed, backend       the readout's regularisation; the seed of every random draw;
                               "fast" (numba) or "readable" (numpy) simulation (the same spikes)
    """

    def __init__(self, units: int = 500, inh_fraction: float = 0.2, p_connect: float = 0.1, J: float = 0.5,
                 g: float = 5.0, eta: float = 0.0, input_scaling: float = 40.0, input_connectivity: float = 1.0,
                 bias: float = 25.0, tau: float = 20e-3, tau_syn: float = 5e-3, threshold: float = 20.0,
                 v_reset: float = 10.0, refractory: float = 2e-3, dt: float = 1e-3, steps_per_input: int = 1,
                 tau_readout: float = 50e-3, ridge: float = 100.0, seed=None, backend: str = "fast"):
        self.units = check_int("units", units, 2, MAX_UNITS)
        self.inh_fraction = check_float("inh_fraction", inh_fraction, 0.0, 1.0, high_open=True)
        self.p_connect = check_float("p_connect", p_connect, 0.0, 1.0)
        self.J = check_float("J", J)
        self.g = check_float("g", g, 0.0)
        self.eta = check_float("eta", eta, 0.0)
        self.input_scaling = check_float("input_scaling", input_scaling, 0.0)
        self.input_connectivity = check_float("input_connectivity", input_connectivity, 0.0, 1.0, low_open=True)
        self.bias = check_float("bias", bias)
        self.steps_per_input = check_int("steps_per_input", steps_per_input, 1, 10_000)
        self.tau_readout = check_float("tau_readout", tau_readout, 0.0, low_open=True)
        self.ridge = check_float("ridge", ridge, 0.0)
        self.seed = check_seed("seed", seed)
        self.backend = check_choice("backend", backend, ("fast", "readable"))
        self.n_inh_ = int(round(self.units * self.inh_fraction))
        if self.n_inh_ >= self.units:
            raise fail("inh_fraction", f"a fraction leaving at least one excitatory neuron of {self.units}",
                       self.inh_fraction)
        rng_net, self._rng_in = np.random.default_rng(self.seed).spawn(2)
        # the liquid: tau, tau_syn, threshold, v_reset, refractory and dt are checked by Network itself
        self.network_ = Network(n_exc=self.units - self.n_inh_, n_inh=self.n_inh_, p_connect=self.p_connect,
                                J=self.J, g=self.g, eta=self.eta, tau=tau, tau_syn=tau_syn, threshold=threshold,
                                v_reset=v_reset, refractory=refractory, dt=dt, seed=rng_net)
        self.tau, self.tau_syn, self.threshold = tau, tau_syn, threshold
        self.v_reset, self.refractory, self.dt = v_reset, refractory, dt
        self.bias_ = self.bias * self._rng_in.uniform(0.5, 1.5, size=self.units)
        self.Win_ = None
        self.readout_ = self.intercept_ = self.states_ = self.spikes_ = self.classes_ = None

    # -- the liquid ---------------------------------------------------------------------------------
    def _input(self, name: str, X) -> np.ndarray:
        X = check_array(name, X, ndim=(1, 2), dtype=np.float64, min_size=1)
        X = X.reshape(-1, 1) if X.ndim == 1 else X
        if self.Win_ is None:
            mask = self._rng_in.random((self.units, X.shape[1])) < self.input_connectivity
            self.Win_ = mask * self._rng_in.normal(0.0, self.input_scaling, size=(self.units, X.shape[1]))
        elif X.shape[1] != self.Win_.shape[1]:
            raise fail(name, f"{self.Win_.shape[1]} input features (Win has {self.Win_.shape[1]} columns)",
                       f"{X.shape[1]}", described=True)
        return X

    @property
    def decay_(self) -> float:
        """exp(-dt / tau_readout): the readout filter's decay per simulation step."""
        return math.exp(-self.dt / self.tau_readout)

    def _simulate(self, X: np.ndarray) -> np.ndarray:
        """(T * steps_per_input, units) bool spikes of the liquid driven by X (T, inputs) from rest."""
        drive = np.repeat(X, self.steps_per_input, axis=0)
        current = np.hstack([drive, np.ones((len(drive), 1))])          # the last column carries the bias
        weights = np.hstack([self.Win_, self.bias_[:, None]])
        self.spikes_ = self.network_.run(current, input_weights=weights, backend=self.backend).spikes
        return self.spikes_

    def run(self, X) -> np.ndarray:
        """(T, units) filtered spike trains for inputs X (T, inputs), the liquid starting from rest."""
        X = self._input("X", X)
        return readout_states(self._simulate(X), self.steps_per_input, self.decay_)

    # -- time series: one target per step -----------------------------------------------------------
    def fit(self, X, Y, warmup: int = 0) -> "LSM":
        """Run X (T, inputs) and fit the ridge readout on states[warmup:] -> Y[warmup:] (T, outputs)."""
        X = self._input("X", X)
        Y, warmup = check_targets(X, Y, warmup)
        self.states_ = self.run(X)
        self.readout_, self.intercept_ = ridge_readout(self.states_[warmup:], Y[warmup:], self.ridge)
        self.classes_ = None
        return self

    def _check_fitted(self):
        if self.readout_ is None:
            raise ValueError("LSM: not fitted yet; call fit(X, Y) or fit_classes(sequences, labels) first")

    def predict(self, X, context=None) -> np.ndarray:
        """(T, outputs) readout for X (T, inputs). The liquid starts from rest; `context` (T0, inputs),
        the inputs just before X (e.g. the training series), is run first so X continues it."""
        self._check_fitted()
        if self.classes_ is not None:
            raise ValueError("LSM: fitted with fit_classes; use predict_classes(sequences)")
        X = self._input("X", X)
        if context is not None:
            context = self._input("context", context)
            return self.run(np.vstack([context, X]))[len(context):] @ self.readout_ + self.intercept_
        return self.run(X) @ self.readout_ + self.intercept_

    # -- sequences: one label per sequence ----------------------------------------------------------
    def transform(self, sequences, gap: int | None = None) -> np.ndarray:
        """(n, units) liquid states at the last step of each sequence (n, T, inputs): the sequences run
        back to back with `gap` silent input steps between them (None: 5 tau / dt, the membrane's
        relaxation), the readout filter restarted at each sequence's first step."""
        S = check_array("sequences", sequences, ndim=3, dtype=np.float64, min_size=1)
        gap = max(1, round(5 * self.tau / (self.dt * self.steps_per_input))) if gap is None else \
            check_int("gap", gap, low=0, high=1_000_000)
        n, T, d = S.shape
        padded = np.concatenate([S, np.zeros((n, gap, d))], axis=1).reshape(-1, d)
        spikes = self._simulate(self._input("sequences", padded))
        k = self.steps_per_input
        per_seq = spikes.reshape(n, (T + gap) * k, self.units)[:, :T * k]
        weight = self.decay_ ** np.arange(T * k - 1, -1, -1.0)         # each spike seen at the sequence's end
        return np.einsum("j,njm->nm", weight, per_seq.astype(np.float64))

    def fit_classes(self, sequences, labels, gap: int | None = None) -> "LSM":
        """Fit the readout to one-hot `labels` (n,) from the states of `sequences` (n, T, inputs)."""
        labels = check_array("labels", labels, ndim=1, kind="integer", min_size=1)
        F = self.transform(sequences, gap)
        if len(labels) != len(F):
            raise fail("labels", f"{len(F)} labels, one per sequence", f"{len(labels)}", described=True)
        self.classes_, idx = np.unique(labels, return_inverse=True)
        self.states_ = F
        self.readout_, self.intercept_ = ridge_readout(F, np.eye(len(self.classes_))[idx], self.ridge)
        return self

    def predict_classes(self, sequences, gap: int | None = None) -> np.ndarray:
        """(n,) the class of each sequence (n, T, inputs): the readout's largest output."""
        self._check_fitted()
        if self.classes_ is None:
            raise ValueError("LSM: fitted with fit (a time series); use predict(X)")
        return self.classes_[np.argmax(self.transform(sequences, gap) @ self.readout_ + self.intercept_, axis=1)]

    # -- inspection ----------------------------------------------------------------------------------
    def snapshot(self) -> dict:
        """The machine as plain data: the liquid's wiring (CSR arrays, row = post), Win, the per-neuron
        bias, the readout, the states it was fitted on and the raster of the last run (None before)."""
        snap = self.network_.snapshot()
        snap.update({"Win": self.Win_, "bias": self.bias_.copy(), "readout": self.readout_,
                     "intercept": self.intercept_, "states": self.states_, "spikes": self.spikes_,
                     "classes": self.classes_, "dt": self.dt, "steps_per_input": self.steps_per_input})
        return snap
