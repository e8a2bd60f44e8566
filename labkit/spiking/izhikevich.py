"""The Izhikevich neuron (Izhikevich 2003, IEEE TNN 14(6):1569, eqs. 1-3) and the 20 behaviours of
Izhikevich (2004, IEEE TNN 15(5):1063, Fig. 1), integrated as the figure's own code does
(izhikevich.org/publications/figure1.m): forward Euler with step h in ms, u updated with the new v,

    v <- v + h (sq v^2 + mn v + bias - u + I)
    u <- u + h a (b (v - v_b) - u_leak u)
    if v > v_peak:  v <- c,  u <- u + d          (the recorded v is v_peak at a spike)

Standard model: sq, mn, bias = 0.04, 5, 140; v_b = 0, u_leak = 1. Fig. 1's class-1 and integrator
panels use mn, bias = 4.1, 108; its accommodation panel uses u <- u + h a b (v + 65) (v_b = -65,
u_leak = 0). The parameters (a, b, c, d) and initial states match Norse's table
(norse/torch/functional/izhikevich.py at commit 065a3b45cf13bc8156d18987380f6d26c09f08a2), which
omits the input protocols and the accommodation variant; both come from figure1.m here.
Time is in seconds at the API (dt=0.25e-3 is figure1.m's tau = 0.25 ms), in ms inside the step.

The figure's coarse Euler step is part of eight of its behaviours: at the figure's step labkit gives
figure1.m's spike counts; in the converged ODE (dt <= 0.01 ms, checked against an independent Heun
integration) tonic bursting, phasic bursting, mixed mode, class 2, rebound burst, bistability and
inhibition-induced spiking fire more, "dap" fires repetitively and "inhibition_induced_bursting"
runs away (tests/test_spiking_models.py holds the table).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labkit.base import Estimator
from labkit.jit import jitable
from labkit.spiking.common import prepare_current, prepare_v0, run_backend
from labkit.spiking.result import SpikeResult
from labkit.validate import check_bool, check_float, check_str, fail

__all__ = ["Izhikevich", "IzhikevichPreset", "IZHIKEVICH_PRESETS", "izhikevich_readable"]


@jitable
def izhikevich_step(v, u, current, h, a, b, c, d, sq, mn, bias, v_b, u_leak, v_peak):
    """One Euler step of one neuron (figure1.m's order). Returns (v, u, spiked, recorded v)."""
    v = v + h * (sq * v * v + mn * v + bias - u + current)
    u = u + h * a * (b * (v - v_b) - u_leak * u)
    if v > v_peak:
        return c, u + d, True, v_peak
    return v, u, False, v


def izhikevich_readable(x, n_steps, h, a, b, c, d, sq, mn, bias, v_b, u_leak, v_peak, v0, u0, record):
    """Every neuron, every step (plain Python; kernels.izhikevich_run is this function compiled).
    Returns (spikes (T, N), v (T, N), u (T, N)); v and u (0, N) unless record."""
    n = x.shape[1]
    held = x.shape[0] == 1
    v, u = v0.copy(), u0.copy()
    spikes = np.zeros((n_steps, n), dtype=np.bool_)
    m = n_steps if record else 0
    v_out, u_out = np.zeros((m, n)), np.zeros((m, n))
    for t in range(n_steps):
        row = 0 if held else t
        for i in range(n):
            vi, ui, si, shown = izhikevich_step(v[i], u[i], x[row, i], h, a, b, c, d, sq, mn, bias, v_b, u_leak,
                                                v_peak)
            v[i], u[i], spikes[t, i] = vi, ui, si
            if record:
                v_out[t, i], u_out[t, i] = shown, ui
    return spikes, v_out, u_out


class Izhikevich(Estimator):
    """A population of Izhikevich neurons sharing (a, b, c, d).

    Izhikevich(a=0.02, b=0.2, c=-65.0, d=8.0, dt=0.25e-3, v0=-65.0, u0=None, v_peak=30.0,
               sq=0.04, mn=5.0, bias=140.0, v_b=0.0, u_leak=1.0)

    a, b, c, d  Izhikevich's parameters (defaults: regular spiking, 2003 Fig. 2). v in mV, t in ms.
    dt          step in seconds. v0, u0: initial state (u0=None: b * v0, as figure1.m).
    `Izhikevich.preset(name)` builds one of Fig. 1's 20 behaviours (IZHIKEVICH_PRESETS).
    """

    def __init__(self, a: float = 0.02, b: float = 0.2, c: float = -65.0, d: float = 8.0, dt: float = 0.25e-3,
                 v0: float = -65.0, u0: float | None = None, v_peak: float = 30.0, sq: float = 0.04,
                 mn: float = 5.0, bias: float = 140.0, v_b: float = 0.0, u_leak: float = 1.0):
        self.a, self.b = check_float("a", a), check_float("b", b)
        self.c, self.d = check_float("c", c), check_float("d", d)
        self.dt = check_float("dt", dt, low=0.0, high=1e-2, low_open=True)
        self.v0 = check_float("v0", v0)
        self.u0 = None if u0 is None else check_float("u0", u0)
        self.v_peak = check_float("v_peak", v_peak)
        if self.c >= self.v_peak:
            raise fail("c", f"a reset below v_peak = {self.v_peak:g}", self.c)
        self.sq, self.mn, self.bias = check_float("sq", sq), check_float("mn", mn), check_float("bias", bias)
        self.v_b, self.u_leak = check_float("v_b", v_b), check_float("u_leak", u_leak)

    @classmethod
    def preset(cls, name: str) -> "Izhikevich":
        """The neuron of one of Fig. 1's behaviours (its `.current()` gives the figure's input)."""
        return preset(name).neuron()

    def run(self, current, n_steps: int | None = None, record_v: bool = False, v0=None,
            backend: str = "fast") -> SpikeResult:
        """Simulate. current: (T, N), or (N,) held for n_steps (Izhikevich's I, in mV/ms).
        v0: None (the neuron's v0), a number or (N,); u starts at u0 (or b * v0)."""
        x, n_steps = prepare_current(current, n_steps)
        record_v = check_bool("record_v", record_v)
        n = x.shape[1]
        v_start = prepare_v0(v0, n, self.v0)
        u_start = np.full(n, self.u0) if self.u0 is not None else self.b * v_start
        args = (x, n_steps, self.dt * 1e3, self.a, self.b, self.c, self.d, self.sq, self.mn, self.bias, self.v_b,
                self.u_leak, self.v_peak, v_start, u_start, record_v)
        spikes, v, u = run_backend(backend, "izhikevich_run", izhikevich_readable, args)
        traces = {"v": v, "aux": u, "aux_name": "u"} if record_v else {}
        return SpikeResult(spikes=spikes, dt=self.dt, **traces)


def _pulses(t, starts, width, amp, base=0.0):
    on = np.zeros_like(t, dtype=bool)
    for s in starts:
        on |= (t > s) & (t < s + width)
    return np.where(on, amp, base)


# Fig. 1's input protocols (figure1.m), I(t) with t in ms.
_STIMULI = {
    "tonic_spiking": lambda t: np.where(t > 10.0, 14.0, 0.0),
    "phasic_spiking": lambda t: np.where(t > 20.0, 0.5, 0.0),
    "tonic_bursting": lambda t: np.where(t > 22.0, 15.0, 0.0),
    "phasic_bursting": lambda t: np.where(t > 20.0, 0.6, 0.0),
    "mixed_mode": lambda t: np.where(t > 16.0, 10.0, 0.0),
    "spike_frequency_adaptation": lambda t: np.where(t > 8.5, 30.0, 0.0),
    "class_1_exc": lambda t: np.where(t > 30.0, 0.075 * (t - 30.0), 0.0),
    "class_2_exc": lambda t: np.where(t > 30.0, -0.5 + 0.015 * (t - 30.0), -0.5),
    "spike_latency": lambda t: _pulses(t, [10.0], 3.0, 7.04),
    "subthreshold_oscillation": lambda t: _pulses(t, [20.0], 5.0, 2.0),
    "resonator": lambda t: _pulses(t, [40.0, 60.0, 280.0, 320.0], 4.0, 0.65),
    "integrator": lambda t: _pulses(t, [100 / 11, 100 / 11 + 5, 70.0, 80.0], 2.0, 9.0),
    "rebound_spike": lambda t: _pulses(t, [20.0], 5.0, -15.0),
    "rebound_burst": lambda t: _pulses(t, [20.0], 5.0, -15.0),
    "threshold_variability": lambda t: _pulses(t, [10.0, 80.0], 5.0, 1.0) + _pulses(t, [70.0], 5.0, -6.0),
    "bistability": lambda t: _pulses(t, [300 / 8, 216.0], 5.0, 1.24, base=0.24),
    "dap": lambda t: np.where(np.abs(t - 10.0) < 1.0, 20.0, 0.0),
    "accommodation": lambda t: np.where(t < 200, t / 25, 0.0) + np.where((t >= 300) & (t < 312.5),
                                                                         (t - 300) / 12.5 * 4, 0.0),
    "inhibition_induced_spiking": lambda t: np.where((t < 50) | (t > 250), 80.0, 75.0),
    "inhibition_induced_bursting": lambda t: np.where((t < 50) | (t > 250), 80.0, 75.0),
}


@dataclass(frozen=True)
class IzhikevichPreset:
    """One behaviour of Izhikevich (2004) Fig. 1: the neuron, its step and the figure's protocol.
    dt and duration in seconds; u0 None means b * v0."""

    name: str
    panel: str
    a: float
    b: float
    c: float
    d: float
    v0: float
    dt: float
    duration: float
    u0: float | None = None
    mn: float = 5.0
    bias: float = 140.0
    v_b: float = 0.0
    u_leak: float = 1.0

    def neuron(self, dt: float | None = None) -> Izhikevich:
        return Izhikevich(self.a, self.b, self.c, self.d, dt=self.dt if dt is None else dt, v0=self.v0, u0=self.u0,
                          mn=self.mn, bias=self.bias, v_b=self.v_b, u_leak=self.u_leak)

    def current(self, dt: float | None = None) -> np.ndarray:
        """(T, 1) the figure's input I(t) sampled at t = 0, dt, ..., duration (figure1.m's tspan)."""
        dt = self.dt if dt is None else check_float("dt", dt, low=0.0, low_open=True)
        t_ms = np.arange(int(round(self.duration / dt)) + 1) * dt * 1e3
        return _STIMULI[self.name](t_ms).astype(np.float64)[:, None]


def _p(name, panel, a, b, c, d, v0, tau_ms, t_ms, **kw):
    return name, IzhikevichPreset(name, panel, a, b, c, d, v0, tau_ms * 1e-3, t_ms * 1e-3, **kw)


IZHIKEVICH_PRESETS: dict[str, IzhikevichPreset] = dict([
    _p("tonic_spiking", "A", 0.02, 0.2, -65, 6, -70, 0.25, 100),
    _p("phasic_spiking", "B", 0.02, 0.25, -65, 6, -64, 0.25, 200),
    _p("tonic_bursting", "C", 0.02, 0.2, -50, 2, -70, 0.25, 220),
    _p("phasic_bursting", "D", 0.02, 0.25, -55, 0.05, -64, 0.2, 200),
    _p("mixed_mode", "E", 0.02, 0.2, -55, 4, -70, 0.25, 160),
    _p("spike_frequency_adaptation", "F", 0.01, 0.2, -65, 8, -70, 0.25, 85),
    _p("class_1_exc", "G", 0.02, -0.1, -55, 6, -60, 0.25, 300, mn=4.1, bias=108.0),
    _p("class_2_exc", "H", 0.2, 0.26, -65, 0, -64, 0.25, 300),
    _p("spike_latency", "I", 0.02, 0.2, -65, 6, -70, 0.2, 100),
    _p("subthreshold_oscillation", "J", 0.05, 0.26, -60, 0, -62, 0.25, 200),
    _p("resonator", "K", 0.1, 0.26, -60, -1, -62, 0.25, 400),
    _p("integrator", "L", 0.02, -0.1, -55, 6, -60, 0.25, 100, mn=4.1, bias=108.0),
    _p("rebound_spike", "M", 0.03, 0.25, -60, 4, -64, 0.2, 200),
    _p("rebound_burst", "N", 0.03, 0.25, -52, 0, -64, 0.2, 200),
    _p("threshold_variability", "O", 0.03, 0.25, -60, 4, -64, 0.25, 100),
    _p("bistability", "P", 0.1, 0.26, -60, 0, -61, 0.25, 300),
    _p("dap", "Q", 1.0, 0.2, -60, -21, -70, 0.1, 50),
    _p("accommodation", "R", 0.02, 1.0, -55, 4, -65, 0.5, 400, u0=-16.0, v_b=-65.0, u_leak=0.0),
    _p("inhibition_induced_spiking", "S", -0.02, -1.0, -60, 8, -63.8, 0.5, 350),
    _p("inhibition_induced_bursting", "T", -0.026, -1.0, -45, -2, -63.8, 0.5, 350),
])


def preset(name: str) -> IzhikevichPreset:
    check_str("name", name)
    if name not in IZHIKEVICH_PRESETS:
        raise fail("name", f"one of {sorted(IZHIKEVICH_PRESETS)}", name)
    return IZHIKEVICH_PRESETS[name]
