"""Reservoir computing: echo state networks with reservoirpy's names, exact against it given the same
weights; memory capacity; the time series and memory tasks of the reservoir literature.

    esn.py       ESN: fixed random reservoir + ridge readout; fit / predict / run / generate; save / load
    weights.py   random W (spectral radius sr) and Win, as reservoirpy draws them
    kernels.py   the numba state update (the readable one is esn.run_states)
    files.py     .npz save / load without pickle, validated
    metrics.py   rmse, nrmse, rsquare, memory_capacity
    tasks.py     mackey_glass, narma, lorenz (reservoirpy's generators), to_forecasting, parity, delayed_match
"""

from labkit.reservoir.esn import ESN
from labkit.reservoir.metrics import memory_capacity, nrmse, rmse, rsquare
from labkit.reservoir.tasks import delayed_match, lorenz, mackey_glass, narma, parity, to_forecasting
from labkit.reservoir.weights import spectral_radius

__all__ = ["ESN", "memory_capacity", "nrmse", "rmse", "rsquare", "spectral_radius",
           "mackey_glass", "narma", "lorenz", "to_forecasting", "parity", "delayed_match"]
