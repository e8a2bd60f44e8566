"""Trainable spiking units in PyTorch: snnTorch's `Leaky` with surrogate gradients, and a digits
classifier trained by backpropagation through time.

    lif = spiking.torch.LIF(beta=0.9, threshold=1.0, spike_grad="atan", reset_mechanism="subtract")
    spk, mem = lif(input_, mem)          # one step, state passed explicitly (snnTorch's non-hidden form)
    spk, mem = lif.run(inputs)           # inputs (T, ...): spikes and membranes (T, ...)

    res = spiking.torch.train_digits(model="snn", num_steps=25, encoding="rate", seed=0)
    res = spiking.torch.train_digits(model="qann", bits=2)   # the ANN whose activations have 2 bits

The update is snnTorch 1.0.0's `Leaky` with its default `reset_delay=True` (jeshraghian/snntorch
`snntorch/_neurons/leaky.py` and `neurons.py`, release 1.0.0: `mem_reset`, `_base_sub`,
`_base_zero`). With R[t] = Θ(U[t−1] − U_thr), the previous step's spike, detached from the graph:

    subtract:  U[t] = β U[t−1] + I[t] − R[t] U_thr
    zero:      U[t] = β (1 − R[t]) U[t−1] + I[t]
    none:      U[t] = β U[t−1] + I[t]
    spike:     S[t] = Θ(U[t] − U_thr)          (strict >; surrogate gradient backward)

This is snnTorch's code, not its tutorial: snnTorch tutorial 3 writes the subtract reset as
β·U_thr; the code subtracts U_thr (snnTorch issue #341). labkit follows the code, so spikes equal
snnTorch's and `labkit.spiking.LIF(beta=...)` (input U ← βU + I) spike for spike. β is clamped to
[0, 1] in the forward pass, as snnTorch does, so a learnt β stays a decay. Unlike snnTorch 1.0, the
module keeps no hidden state: `mem=None` means a zero membrane.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from labkit.base import Estimator
from labkit.spiking.surrogate import SURROGATES, spike
from labkit.validate import check_array, check_bool, check_choice, check_float, check_int, check_seed, fail, type_fail

__all__ = ["LIF", "SpikingMLP", "QuantizedMLP", "encode", "train_digits", "DigitsResult"]

RESETS = ("subtract", "zero", "none")
ENCODINGS = ("rate", "latency", "direct")


def _tensor(name: str, x, *, ndim_min: int = 1) -> torch.Tensor:
    """A finite floating tensor (numpy arrays are converted to float32)."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(check_array(name, x, dtype=np.float32))
    if not isinstance(x, torch.Tensor):
        raise type_fail(name, "a torch.Tensor or numpy array", x)
    if not x.dtype.is_floating_point:
        raise fail(name, "a floating-point tensor", x)
    if x.ndim < ndim_min or x.numel() == 0:
        raise fail(name, f"a non-empty tensor with at least {ndim_min} dimension(s)", f"shape {tuple(x.shape)}",
                   described=True)
    if not bool(torch.isfinite(x).all()):
        raise fail(name, "finite values", "NaN or inf", described=True)
    return x


class LIF(Estimator, nn.Module):
    """Leaky integrate-and-fire layer with a surrogate gradient (snnTorch's `Leaky`, see module doc).

    beta             decay per step, in [0, 1]: a number, or one per neuron (n,) (β = exp(−dt/τ))
    threshold        U_thr > 0
    spike_grad       "atan" (snnTorch's default, α = `alpha`) or "fast_sigmoid" (slope k = `slope`)
    learn_beta       β is an nn.Parameter (clamped to [0, 1] when used)
    learn_threshold  U_thr is an nn.Parameter
    reset_mechanism  "subtract" | "zero" | "none"
    """

    _param_aliases = {"beta": "beta_init", "threshold": "threshold_init"}

    def __init__(self, beta=0.9, threshold: float = 1.0, spike_grad: str = "atan", alpha: float = 2.0,
                 slope: float = 25.0, learn_beta: bool = False, learn_threshold: bool = False,
                 reset_mechanism: str = "subtract"):
        nn.Module.__init__(self)
        if isinstance(beta, (torch.Tensor, np.ndarray, list, tuple)):
            b = check_array("beta", beta.detach().cpu().numpy() if isinstance(beta, torch.Tensor) else beta,
                            ndim=1, dtype=np.float32, min_size=1)
            if b.min() < 0 or b.max() > 1:
                raise fail("beta", "values in [0, 1]", f"range [{b.min()}, {b.max()}]", described=True)
            self.beta_init = b.copy()
        else:
            self.beta_init = check_float("beta", beta, 0.0, 1.0)
        self.threshold_init = check_float("threshold", threshold, 0.0, low_open=True)
        self.spike_grad = check_choice("spike_grad", spike_grad, tuple(SURROGATES))
        self.alpha = check_float("alpha", alpha, 0.0, low_open=True)
        self.slope = check_float("slope", slope, 0.0, low_open=True)
        self.learn_beta = check_bool("learn_beta", learn_beta)
        self.learn_threshold = check_bool("learn_threshold", learn_threshold)
        self.reset_mechanism = check_choice("reset_mechanism", reset_mechanism, RESETS)
        beta_t = torch.as_tensor(self.beta_init, dtype=torch.float32).clone()
        thr_t = torch.tensor(self.threshold_init, dtype=torch.float32)
        if self.learn_beta:
            self.beta = nn.Parameter(beta_t)
        else:
            self.register_buffer("beta", beta_t)
        if self.learn_threshold:
            self.threshold = nn.Parameter(thr_t)
        else:
            self.register_buffer("threshold", thr_t)

    __repr__ = Estimator.__repr__

    def _check_pair(self, input_, mem):
        input_ = _tensor("input_", input_)
        if self.beta.ndim and input_.shape[-1] != self.beta.shape[0]:
            raise fail("input_", f"last dimension {self.beta.shape[0]} (one per neuron of beta)",
                       f"shape {tuple(input_.shape)}", described=True)
        if mem is None:
            return input_, torch.zeros_like(input_)
        mem = _tensor("mem", mem)
        if mem.shape != input_.shape:
            raise fail("mem", f"shape {tuple(input_.shape)} (that of input_)", f"shape {tuple(mem.shape)}",
                       described=True)
        return input_, mem

    def _step(self, input_: torch.Tensor, mem: torch.Tensor):
        beta = self.beta.clamp(0, 1)
        thr = self.threshold
        reset = (mem - thr > 0).to(mem.dtype).detach()          # R[t]: the previous step's spike
        if self.reset_mechanism == "subtract":
            mem = beta * mem + input_ - reset * thr
        elif self.reset_mechanism == "zero":
            mem = beta * (1 - reset) * mem + input_
        else:
            mem = beta * mem + input_
        scale = self.alpha if self.spike_grad == "atan" else self.slope
        return spike(mem - thr, self.spike_grad, scale), mem

    def forward(self, input_: torch.Tensor, mem: torch.Tensor | None = None):
        """One step: input_ (..., n) -> (spk, mem), both shaped like input_."""
        input_, mem = self._check_pair(input_, mem)
        return self._step(input_, mem)

    def run(self, input_, mem: torch.Tensor | None = None):
        """All steps of input_ (T, ...): spikes and membranes, each (T, ...). `mem` is U[0] (..., )."""
        input_ = _tensor("input_", input_, ndim_min=2)
        _, mem = self._check_pair(input_[0], mem)
        spikes, mems = [], []
        for t in range(input_.shape[0]):
            spk, mem = self._step(input_[t], mem)
            spikes.append(spk)
            mems.append(mem)
        return torch.stack(spikes), torch.stack(mems)


# -- encodings ---------------------------------------------------------------------------------------
def encode(x, num_steps: int, encoding: str = "rate", seed=None) -> torch.Tensor:
    """Intensities x in [0, 1], (n, d), as T = num_steps input steps (T, n, d) float32.

    rate     S[t] ~ Bernoulli(x) independently per step (snnTorch `spikegen.rate`)
    latency  one spike at t = round((1 − x)(T − 1)), none where x = 0 (snnTorch `spikegen.latency`,
             linear=True, normalize=True): brighter pixels fire earlier
    direct   the analog x at every step (an input current, no input spikes)
    """
    x = check_array("x", x, ndim=2, dtype=np.float32, min_size=1)
    if x.min() < 0 or x.max() > 1:
        raise fail("x", "intensities in [0, 1]", f"range [{x.min()}, {x.max()}]", described=True)
    T = check_int("num_steps", num_steps, low=1)
    check_choice("encoding", encoding, ENCODINGS)
    check_seed("seed", seed)
    xt = torch.from_numpy(x)
    if encoding == "direct":
        return xt.expand(T, *xt.shape).clone()
    if encoding == "rate":
        g = torch.Generator().manual_seed(int(np.random.default_rng(seed).integers(2**62)))
        return (torch.rand((T, *xt.shape), generator=g) < xt).float()
    t_spike = torch.round((1 - xt) * (T - 1)).long()
    out = torch.zeros((T, *xt.shape))
    out.scatter_(0, t_spike[None], 1.0)
    out[:, xt == 0] = 0.0
    return out


# -- the two classifiers the paper card compares ------------------------------------------------------
class SpikingMLP(nn.Module):
    """n_in -> n_hidden LIF -> n_out non-leaky integrator read out at the end.

    The read-out neuron integrates W·S[t] + b without leak or spike and is divided by T, so the
    logits are W·(spike count / T) + b: each hidden neuron hands on one of T + 1 levels."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int, **lif):
        super().__init__()
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.lif = LIF(**lif)
        self.fc2 = nn.Linear(n_hidden, n_out)

    def forward(self, x: torch.Tensor, return_spikes: bool = False):
        """x (T, batch, n_in) -> logits (batch, n_out) [, hidden spikes (T, batch, n_hidden)]."""
        spikes, _ = self.lif.run(self.fc1(x))
        logits = self.fc2(spikes.mean(0))
        return (logits, spikes) if return_spikes else logits


class _Quantize(torch.autograd.Function):
    """round(a·L)/L forward, identity backward (the straight-through estimator, Bengio, Léonard &
    Courville 2013, arXiv:1308.3432)."""

    @staticmethod
    def forward(ctx, a, levels):
        return torch.round(a * levels) / levels

    @staticmethod
    def backward(ctx, g):
        return g, None


class QuantizedMLP(nn.Module):
    """n_in -> n_hidden clip(·, 0, 1) quantized to 2^bits levels -> n_out (bits=None: not quantized).

    With bits = log2(T + 1) a hidden activation takes exactly the T + 1 values a spike count over T
    steps takes: {0, 1/T, ..., 1}."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int, bits: int | None = None):
        super().__init__()
        self.bits = bits
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.fc2 = nn.Linear(n_hidden, n_out)

    def forward(self, x: torch.Tensor):
        h = self.fc1(x).clamp(0, 1)
        if self.bits is not None:
            h = _Quantize.apply(h, 2 ** self.bits - 1)
        return self.fc2(h)


@dataclass(frozen=True)
class DigitsResult:
    """One training run on sklearn's digits (plain data; `train_digits` returns it)."""

    model: str
    num_steps: int            # T (1 for the ANN)
    bits: float               # activation bits: log2(T + 1) for the SNN's counts, `bits` for the ANN
    levels: int               # values a hidden activation can take
    accuracy: float           # held-out
    train_accuracy: float
    seconds: float            # training wall time
    loss: np.ndarray          # mean training loss per epoch
    spike_rate: float         # hidden spikes per neuron per step on the test set (nan for the ANN)


def train_digits(model: str = "snn", num_steps: int = 25, bits: int | None = None, n_hidden: int = 128,
                 encoding: str = "rate", epochs: int = 40, lr: float = 2e-3, batch_size: int = 64,
                 beta: float = 0.9, spike_grad: str = "atan", test_size: int = 450, seed=0,
                 return_model: bool = False):
    """Train a one-hidden-layer classifier on sklearn's 8x8 digits (pixels / 16 in [0, 1]).

    model="snn": `SpikingMLP` on `encode(x, num_steps, encoding)`, BPTT through the LIF's surrogate
    gradient (Adam, cross-entropy on the read-out). model="qann": `QuantizedMLP(bits=bits)` on the
    analog pixels, same optimiser, straight-through gradient. The split is `labkit.data.digits(
    test_size)` (stratified, fixed); `seed` sets the initial weights, the batches and the encoding.
    Returns a `DigitsResult` (and the trained module when return_model=True).
    """
    check_choice("model", model, ("snn", "qann"))
    T = check_int("num_steps", num_steps, low=1)
    if bits is not None:
        bits = check_int("bits", bits, low=1, high=16)
    n_hidden = check_int("n_hidden", n_hidden, low=1)
    check_choice("encoding", encoding, ENCODINGS)
    epochs = check_int("epochs", epochs, low=1)
    lr = check_float("lr", lr, 0.0, low_open=True)
    batch_size = check_int("batch_size", batch_size, low=1)
    beta = check_float("beta", beta, 0.0, 1.0)
    check_choice("spike_grad", spike_grad, tuple(SURROGATES))
    test_size = check_int("test_size", test_size, low=10, high=1700)
    seed = check_seed("seed", seed)
    return_model = check_bool("return_model", return_model)
    rng = np.random.default_rng(seed)
    threads = torch.get_num_threads()
    # One intra-op thread: these (64 x 64)-sized products are too small to split, and on a busy
    # 2-core machine torch's thread pool made 6 epochs take 54 s instead of 2.8 s (measured).
    torch.set_num_threads(1)
    try:
        return _train(model, T, bits, n_hidden, encoding, epochs, lr, batch_size, beta, spike_grad, test_size,
                      rng, return_model)
    finally:
        torch.set_num_threads(threads)


def _train(model, T, bits, n_hidden, encoding, epochs, lr, batch_size, beta, spike_grad, test_size, rng,
           return_model):
    from labkit.data import digits

    data = digits(test_size=test_size, seed=0)
    xtr, xte = data.train / 16.0, data.test / 16.0
    ytr, yte = torch.from_numpy(data.labels).long(), torch.from_numpy(data.test_labels).long()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(rng.integers(2**62)))
        if model == "snn":
            net = SpikingMLP(64, n_hidden, 10, beta=beta, spike_grad=spike_grad)
            xte_in = encode(xte, T, encoding, seed=int(rng.integers(2**62)))
        else:
            net = QuantizedMLP(64, n_hidden, 10, bits=bits)
            xte_in = torch.from_numpy(xte)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        xtr_t = torch.from_numpy(xtr)
        losses = []
        start = time.perf_counter()
        for _ in range(epochs):
            order = torch.from_numpy(rng.permutation(len(xtr)))
            total = 0.0
            for i in range(0, len(order), batch_size):
                idx = order[i:i + batch_size]
                if model == "snn":
                    xb = encode(xtr[idx.numpy()], T, encoding, seed=int(rng.integers(2**62)))
                else:
                    xb = xtr_t[idx]
                loss = nn.functional.cross_entropy(net(xb), ytr[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            losses.append(total / len(xtr))
        seconds = time.perf_counter() - start
        with torch.no_grad():
            if model == "snn":
                logits, spk = net(xte_in, return_spikes=True)
                rate = float(spk.mean())
                train_logits = net(encode(xtr, T, encoding, seed=int(rng.integers(2**62))))
            else:
                logits, rate = net(xte_in), math.nan
                train_logits = net(xtr_t)
    acc = float((logits.argmax(1) == yte).float().mean())
    train_acc = float((train_logits.argmax(1) == ytr).float().mean())
    if model == "snn":
        act_bits, levels = math.log2(T + 1), T + 1
    else:
        act_bits, levels = (math.inf, 0) if bits is None else (float(bits), 2 ** bits)
    res = DigitsResult(model, T if model == "snn" else 1, act_bits, levels, acc, train_acc, seconds,
                       np.asarray(losses), rate)
    return (res, net) if return_model else res
