"""Reservoir computing: echo state networks with reservoirpy's names, exact against it given the same
weights; memory capacity; the time series and memory tasks of the reservoir literature.

    esn.py       ESN: fixed random reservoir + ridge readout; fit / predict / run / generate; save / load
    batch.py     ESNBatch: many ESNs (seeds, hyper-parameters) stepped in one kernel call
    ei.py        EIESN: excitatory / inhibitory units, E/I balance, local adaptation; ei_sweep, adapt_compare
    memtasks.py  narma_nrmse, recall_accuracy (N-parity, N-delayed match-to-sample)
    weights.py   random W (spectral radius sr) and Win, as reservoirpy draws them
    kernels.py   the numba state update (the readable one is esn.run_states)
    files.py     .npz save / load without pickle, validated
    metrics.py   rmse, nrmse, rsquare, memory_capacity
    tasks.py     mackey_glass, narma, lorenz (reservoirpy's generators), to_forecasting, parity, delayed_match
    lsm.py       LSM: a liquid state machine on labkit.spiking.Network; spike_encode, readout_states
    timescales.py  LeakyRNN with trained per-unit tau, train_curriculum (imports torch on first use)
"""

from labkit.reservoir.batch import ESNBatch
from labkit.reservoir.ei import EIESN, adapt_compare, ei_study, ei_sweep
from labkit.reservoir.esn import ESN
from labkit.reservoir.memtasks import narma_nrmse, recall_accuracy
from labkit.reservoir.metrics import memory_capacity, nrmse, rmse, rsquare
from labkit.reservoir.tasks import delayed_match, lorenz, mackey_glass, narma, parity, to_forecasting
from labkit.reservoir.weights import orthogonal_W, spectral_radius

__all__ = ["ESN", "ESNBatch", "memory_capacity", "nrmse", "rmse", "rsquare", "spectral_radius",
           "mackey_glass", "narma", "lorenz", "to_forecasting", "parity", "delayed_match",
           "EIESN", "ei_sweep", "adapt_compare", "ei_study", "narma_nrmse", "recall_accuracy", "orthogonal_W"]

# the liquid state machine and the trained timescales (timescales.py imports torch: loaded on first use)
from labkit.reservoir.lsm import LSM, readout_states, spike_encode  # noqa: E402

_TIMESCALES = ("LeakyRNN", "CurriculumResult", "parity_batch", "train_curriculum")
__all__ += ["LSM", "spike_encode", "readout_states", *_TIMESCALES]


def __getattr__(name: str):
    if name in _TIMESCALES:
        from labkit.reservoir import timescales
        return getattr(timescales, name)
    raise AttributeError(f"module 'labkit.reservoir' has no attribute {name!r}")
