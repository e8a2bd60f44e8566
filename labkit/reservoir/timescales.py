"""Trained timescales: a leaky RNN whose per-unit time constants tau are learned with its weights, trained
on N-parity for growing N under two curricula (Khajehabdollahi, Zeraati, Giannakakis, Schaefer, Martius &
Levina, "Emergent mechanisms for long timescales depend on training curriculum and affect performance in
memory tasks", ICLR 2024, arXiv:2309.12927, Sect. 2; their model is `src/models/RNN_Stack.py` and their
loop `training/train.py` in LevinaLab/rnn_timescale_public@966f5d8):

    h[t] = LeakyReLU((1 - 1/tau) h[t-1] + (W h[t-1] + b + W_in u[t] + b_in) / tau),  tau = max(tau_raw, 1)
    tau_raw initialised U(1, 2) per unit and trained; W has no self-connections (its diagonal is zeroed)
    y_N = head_N(h[M-1]): the parity of the last N of the M input bits (M random in [N_max + 2, 2.5 N_max + 2))

    single-head   one readout, trained on N until its accuracy passes `threshold`, then on N + 1 (the
                  same network and head continue): "sequential learning of a single-N"
    multi-head    one head per N' = 2 .. N, all trained at once (loss summed); when every head passes
                  `threshold`, a head for N + 1 is added: "simultaneous learning of multiple Ns"

The abstract's claim: "Single-head networks increase their tau with N ... multi-head networks ... keep tau
constant and develop longer timescales through recurrent connectivity." labkit's counterpart is small (tens
of units, N up to ~8, Adam, minutes of CPU) where the paper trains 500 units up to N ~ 50-100 on GPUs;
`train_curriculum` records the trained taus at each N so the notebook can say whether the trend holds.
The input bits come from `labkit.reservoir.parity` (p = 1/2; the paper draws p ~ U(0, 1) per batch).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from labkit.base import Estimator
from labkit.reservoir.tasks import parity
from labkit.validate import check_array, check_choice, check_float, check_int, check_seed, fail

__all__ = ["LeakyRNN", "CurriculumResult", "parity_batch", "train_curriculum"]

CURRICULA = ("single", "multi")


class LeakyRNN(Estimator, nn.Module):
    """The paper's leaky RNN with trainable per-unit tau (module docstring), `heads` two-way readouts."""

    def __init__(self, units: int = 64, heads: int = 1, seed=0):
        nn.Module.__init__(self)
        self.units = check_int("units", units, 1, 4096)
        self.heads = check_int("heads", heads, 1, 1000)
        self.seed = check_seed("seed", seed)
        gen = torch.Generator().manual_seed(int(np.random.default_rng(self.seed).integers(2 ** 62)))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(2 ** 62, (1,), generator=gen)))
            self.w_in = nn.Linear(1, self.units)
            self.w_hh = nn.Linear(self.units, self.units)
            self.tau_raw = nn.Parameter(1.0 + torch.rand(self.units))
            self.readouts = nn.ModuleList([nn.Linear(self.units, 2) for _ in range(self.heads)])
        self._gen = gen

    def add_head(self) -> None:
        """One more readout (the multi-head curriculum's next N)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(2 ** 62, (1,), generator=self._gen)))
            self.readouts.append(nn.Linear(self.units, 2))
        self.heads += 1

    @property
    def tau(self) -> torch.Tensor:
        """(units,) the time constants in steps, tau = max(tau_raw, 1)."""
        return torch.clamp(self.tau_raw, min=1.0)

    def forward(self, u: torch.Tensor, return_states: bool = False):
        """u (batch, M) bits -> list of (batch, 2) logits, one per head, read at the last step
        (and the (batch, M, units) states when return_states)."""
        with torch.no_grad():
            self.w_hh.weight.fill_diagonal_(0.0)                      # no self-connections (RNN_Stack.forward)
        tau = self.tau
        x = self.w_in(u.unsqueeze(-1))                                # (batch, M, units)
        h = torch.zeros(u.shape[0], self.units)
        states = []
        for t in range(u.shape[1]):
            h = nn.functional.leaky_relu((1.0 - 1.0 / tau) * h + (self.w_hh(h) + x[:, t]) / tau)
            if return_states:
                states.append(h)
        out = [head(h) for head in self.readouts]
        return (out, torch.stack(states, dim=1)) if return_states else out


def parity_batch(Ns, batch: int, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """(u (batch, M) bits, labels (len(Ns), batch)): windows of one `labkit.reservoir.parity` stream, the
    label of head i the parity of the window's last Ns[i] bits; M random in [N_max + 2, 2.5 N_max + 2)."""
    Ns = check_array("Ns", Ns, ndim=1, kind="integer", min_size=1)
    if Ns.min() < 1 or Ns.max() > 10_000:
        raise fail("Ns", "values N in [1, 10000]", f"values in [{Ns.min()}, {Ns.max()}]", described=True)
    Ns = Ns.tolist()
    batch = check_int("batch", batch, 1, 1_000_000)
    rng = np.random.default_rng(check_seed("seed", seed))
    n_max = max(Ns)
    M = int(rng.integers(n_max + 2, int(n_max + 2 + 1.5 * n_max)))
    stream_seed = int(rng.integers(2 ** 62))
    labels = []
    for N in Ns:
        u, y = parity(batch * M, N, seed=stream_seed)               # same seed: the same bits for every N
        labels.append(y.reshape(batch, M)[:, -1])
    return u.reshape(batch, M), np.stack(labels).astype(np.int64)


@dataclass(frozen=True)
class CurriculumResult:
    """What `train_curriculum` measured, one row per N reached (plain arrays).

    curriculum  "single" or "multi"
    Ns          (K,) the N of each stage
    steps       (K,) training steps the stage took (its accuracy passed threshold, or max_steps ran out)
    accuracy    (K,) held-out accuracy on N at the stage's end (multi: the head of N)
    solved      (K,) bool: the stage passed threshold (single: on N; multi: every head)
    tau         (K, units) the trained taus at the stage's end
    forgetting  (K,) single-head only: accuracy on N = Ns[0] re-tested with the final network (NaN for multi)
    """

    curriculum: str
    Ns: np.ndarray
    steps: np.ndarray
    accuracy: np.ndarray
    solved: np.ndarray
    tau: np.ndarray
    forgetting: float

    def __post_init__(self):
        check_choice("curriculum", self.curriculum, CURRICULA)
        Ns = check_array("Ns", self.Ns, ndim=1, kind="integer", min_size=1)
        K = len(Ns)
        for name, kind in (("steps", "integer"), ("accuracy", "numeric"), ("solved", "bool"), ("tau", "numeric")):
            value = check_array(name, getattr(self, name), ndim=2 if name == "tau" else 1, kind=kind, min_size=1)
            if len(value) != K:
                raise fail(name, f"one row per N of Ns ({K})", f"{len(value)} rows", described=True)
            object.__setattr__(self, name, value.astype(np.float64) if name == "tau" else value)
        object.__setattr__(self, "Ns", Ns)
        if not (isinstance(self.forgetting, float) and np.isnan(self.forgetting)):
            object.__setattr__(self, "forgetting", check_float("forgetting", self.forgetting, 0.0, 1.0))

    @property
    def tau_mean(self) -> np.ndarray:
        """(K,) the mean trained tau at each N."""
        return self.tau.mean(axis=1)

    def tau_slope(self) -> float:
        """Least-squares slope of mean tau against N over the solved stages (NaN with fewer than two)."""
        ok = self.solved
        if ok.sum() < 2:
            return float("nan")
        return float(np.polyfit(self.Ns[ok].astype(float), self.tau_mean[ok], 1)[0])


def _accuracy(model, Ns, heads, n, seed) -> np.ndarray:
    u, labels = parity_batch(Ns, n, seed=seed)
    with torch.no_grad():
        out = model(torch.from_numpy(u).float())
    return np.array([(out[h].argmax(1).numpy() == labels[i]).mean() for i, h in enumerate(heads)])


def train_curriculum(curriculum: str = "single", N_max: int = 8, N_min: int = 2, units: int = 64,
                     batch: int = 128, lr: float = 1e-2, max_steps: int = 2000, eval_every: int = 50,
                     threshold: float = 0.98, seed=0) -> CurriculumResult:
    """Train a LeakyRNN on N-parity for N = N_min .. N_max under the single- or multi-head curriculum
    (module docstring). Adam (lr), gradient norm clipped at 2 (as the paper's loop), cross-entropy summed
    over heads; every `eval_every` steps the accuracy on 512 fresh sequences decides whether the stage is
    done. A stage that does not pass `threshold` within `max_steps` ends the curriculum (it is recorded,
    unsolved). Deterministic for a given seed."""
    curriculum = check_choice("curriculum", curriculum, CURRICULA)
    N_min = check_int("N_min", N_min, 1, 1000)
    N_max = check_int("N_max", N_max, N_min, 1000)
    units, batch = check_int("units", units, 1, 4096), check_int("batch", batch, 1, 100_000)
    lr = check_float("lr", lr, 0.0, 10.0, low_open=True)
    max_steps = check_int("max_steps", max_steps, 1, 10_000_000)
    eval_every = check_int("eval_every", eval_every, 1, max_steps)
    threshold = check_float("threshold", threshold, 0.5, 1.0)
    rng = np.random.default_rng(check_seed("seed", seed))
    model = LeakyRNN(units=units, heads=1, seed=int(rng.integers(2 ** 62)))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rows = []
    for N in range(N_min, N_max + 1):
        if curriculum == "single":
            Ns, heads = [N], [0]
        else:
            if N > N_min:
                model.add_head()
                opt.add_param_group({"params": model.readouts[-1].parameters()})
            Ns, heads = list(range(N_min, N + 1)), list(range(N - N_min + 1))
        step, acc = 0, np.zeros(len(Ns))
        while step < max_steps:
            u, labels = parity_batch(Ns, batch, seed=int(rng.integers(2 ** 62)))
            out = model(torch.from_numpy(u).float())
            loss = sum(nn.functional.cross_entropy(out[h], torch.from_numpy(labels[i])) for i, h in enumerate(heads))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), max_norm=2.0)
            opt.step()
            step += 1
            if step % eval_every == 0:
                acc = _accuracy(model, Ns, heads, 512, int(rng.integers(2 ** 62)))
                if acc.min() > threshold:
                    break
        solved = bool(acc.min() > threshold)
        rows.append((N, step, float(acc[-1]), solved, model.tau.detach().numpy().copy()))
        if not solved:
            break
    forgetting = float("nan")
    if curriculum == "single":
        forgetting = float(_accuracy(model, [N_min], [0], 512, int(rng.integers(2 ** 62)))[0])
    return CurriculumResult(curriculum=curriculum, Ns=np.array([r[0] for r in rows]),
                            steps=np.array([r[1] for r in rows]), accuracy=np.array([r[2] for r in rows]),
                            solved=np.array([r[3] for r in rows]), tau=np.stack([r[4] for r in rows]),
                            forgetting=forgetting)
