"""Spiking units: LIF / adaptive LIF / Izhikevich populations, a sparse E/I network, exact rates.

    lif.py         LIF: exact discrete LIF, snnTorch's beta / threshold / reset semantics
    alif.py        ALIF: adaptive threshold (Bellec et al. 2018 LSNN)
    izhikevich.py  Izhikevich, the 20 behaviours of Izhikevich (2004) Fig. 1 (IZHIKEVICH_PRESETS)
    network.py     Network: Brunel (2000) E/I network, CSR weights, exponential synaptic currents
    rates.py       lif_rate: continuous and exact discrete f-I curves
    meanfield.py   siegert: mean-field rate and ISI CV under white noise (Brunel 2000, eq. 21)
    result.py      SpikeResult: raster, traces, rates, ISI CV, filtered spike trains
    kernels.py     the numba fast path (backend="fast"); the readable numpy loops sit beside each model
    torch.py       spiking.torch: nn.Module LIF with surrogate gradients (imported on first access)
"""

from __future__ import annotations

import importlib

from labkit.spiking.alif import ALIF
from labkit.spiking.izhikevich import IZHIKEVICH_PRESETS, Izhikevich
from labkit.spiking.lif import LIF
from labkit.spiking.meanfield import siegert
from labkit.spiking.network import Network
from labkit.spiking.rates import lif_rate
from labkit.spiking.result import SpikeResult

__all__ = ["LIF", "ALIF", "Izhikevich", "IZHIKEVICH_PRESETS", "Network", "SpikeResult", "lif_rate", "siegert"]


def __getattr__(name: str):
    # `spiking.torch` imports torch only when first used (`import labkit.spiking` stays torch-free)
    if name == "torch":
        module = importlib.import_module("labkit.spiking.torch")
        globals()["torch"] = module
        return module
    raise AttributeError(f"module 'labkit.spiking' has no attribute {name!r}")
