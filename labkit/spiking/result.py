"""What every spiking simulation returns: the raster, optional state traces, and the usual read-outs
(rates, population rate, ISI statistics, exponentially filtered spike trains)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labkit.validate import check_array, check_float, check_int, check_str, fail

__all__ = ["SpikeResult"]


@dataclass(frozen=True)
class SpikeResult:
    """A simulation's output: plain arrays, one row per time step, one column per neuron.

    spikes    (T, N) bool: spikes[t, i] is True when neuron i fired at step t.
    dt        the step, in seconds.
    v         (T, N) membrane potential after step t (before the next step's reset), or None
              when the run did not record it (`record_v=False`).
    aux       (T, N) the model's second state variable when recorded, or None: ALIF's adaptive
              threshold A[t], Izhikevich's recovery u[t], a Network's synaptic input h[t].
    aux_name  what `aux` holds ("threshold", "u", "h_syn"), or "".
    """

    spikes: np.ndarray
    dt: float
    v: np.ndarray | None = None
    aux: np.ndarray | None = None
    aux_name: str = ""

    def __post_init__(self):
        spikes = check_array("spikes", self.spikes, ndim=2, kind="bool", min_size=1)
        object.__setattr__(self, "spikes", spikes)
        object.__setattr__(self, "dt", check_float("dt", self.dt, low=0.0, low_open=True))
        for name in ("v", "aux"):
            value = getattr(self, name)
            if value is not None:
                arr = check_array(name, value, ndim=2, finite=False)
                if arr.shape != spikes.shape:
                    raise fail(name, f"None or shape {spikes.shape} (as spikes)", f"shape {arr.shape}", described=True)
                object.__setattr__(self, name, arr)
        check_str("aux_name", self.aux_name)

    @property
    def n_steps(self) -> int:
        return int(self.spikes.shape[0])

    @property
    def n_neurons(self) -> int:
        return int(self.spikes.shape[1])

    @property
    def duration(self) -> float:
        """Simulated time in seconds (n_steps * dt)."""
        return self.n_steps * self.dt

    @property
    def times(self) -> np.ndarray:
        """(T,) the time of each step in seconds (step t ends at (t + 1) * dt; we label it t * dt)."""
        return np.arange(self.n_steps) * self.dt

    def counts(self) -> np.ndarray:
        """(N,) number of spikes of each neuron."""
        return self.spikes.sum(axis=0)

    def rates(self) -> np.ndarray:
        """(N,) mean firing rate of each neuron over the run, in Hz."""
        return self.counts() / self.duration

    def population_rate(self, window: float | None = None) -> np.ndarray:
        """(T,) population rate in Hz: the fraction of neurons firing at each step / dt,
        smoothed by a centred box of `window` seconds when given."""
        r = self.spikes.mean(axis=1) / self.dt
        if window is None:
            return r
        window = check_float("window", window, low=0.0, low_open=True)
        k = max(1, int(round(window / self.dt)))
        return np.convolve(r, np.ones(k) / k, mode="same")

    def spike_times(self) -> tuple[np.ndarray, np.ndarray]:
        """(times in seconds, neuron indices) of every spike, ordered by time then neuron."""
        t, i = np.nonzero(self.spikes)
        return t * self.dt, i

    def isi(self, neuron: int = 0) -> np.ndarray:
        """Inter-spike intervals of one neuron, in seconds."""
        neuron = check_int("neuron", neuron, low=0, high=self.n_neurons - 1)
        return np.diff(np.flatnonzero(self.spikes[:, neuron])) * self.dt

    def isi_cv(self, min_spikes: int = 3) -> np.ndarray:
        """(N,) coefficient of variation (std / mean) of each neuron's ISIs; NaN for neurons with
        fewer than `min_spikes` spikes."""
        min_spikes = check_int("min_spikes", min_spikes, low=3)
        out = np.full(self.n_neurons, np.nan)
        t, i = np.nonzero(self.spikes.T)  # sorted by neuron, then time
        bounds = np.searchsorted(t, np.arange(self.n_neurons + 1))
        for n in range(self.n_neurons):
            s = i[bounds[n]:bounds[n + 1]]
            if s.size >= min_spikes:
                d = np.diff(s)
                out[n] = d.std() / d.mean()
        return out

    def filtered(self, tau: float) -> np.ndarray:
        """(T, N) spike trains passed through an exponential filter of time constant `tau` seconds:
        r[t] = exp(-dt/tau) r[t-1] + s[t]. This is the liquid state machine's read-out state
        (Maass, Natschlaeger & Markram 2002, Neural Computation 14(11), Sect. 2: low-pass filtered
        spike trains of the liquid)."""
        tau = check_float("tau", tau, low=0.0, low_open=True)
        from scipy.signal import lfilter  # imported here: scipy.signal takes seconds to import

        decay = np.exp(-self.dt / tau)
        return lfilter([1.0], [1.0, -decay], self.spikes.astype(np.float64), axis=0)
