"""Reservoir-computing inspectors and the "Reservoir computing" dashboard page (labkit.reservoir).

    ReservoirExplorer(esn=None)   states under the input, PCA, spectrum of W, memory capacity, generation
                                  with its divergence horizon, E/I input per unit; sliders (explorer.py)
    LSMView(lsm)                  a liquid state machine's raster and readout states (liquid.py)
    reservoir_page()              the dashboard page (page.py)

`widgets.inspect` returns ReservoirExplorer for an ESN (and an EIESN) and LSMView for an LSM. This file is
the only one that registers the mechanism's inspectors and page; the modules beside it only define views.
"""

from labkit.reservoir import ESN, LSM
from widgets.inspect import register_inspector, register_page
from widgets.reservoir.explorer import ReservoirExplorer
from widgets.reservoir.forecast import divergence_horizon, generation, mackey_glass_task
from widgets.reservoir.liquid import LSMView
from widgets.reservoir.page import reservoir_page
from widgets.reservoir.spectrum import ei_inputs, eigenvalues
from widgets.reservoir.states import pca, state_heatmap

__all__ = ["ReservoirExplorer", "LSMView", "reservoir_page", "divergence_horizon", "generation", "mackey_glass_task",
           "ei_inputs", "eigenvalues", "pca", "state_heatmap"]

register_inspector(ESN, ReservoirExplorer)
register_inspector(LSM, LSMView)
register_page("reservoir", "Reservoir computing", reservoir_page,
              "an echo state network's states, spectrum, memory capacity and closed-loop generation under "
              "sliders; a liquid state machine's raster")
