"""API cases for labkit.spiking (see tests/api_cases/__init__.py). spiking.torch adds its own Case."""

import numpy as np

from api_cases import Case

MODULES = ["labkit.spiking"]

X = np.random.default_rng(0).uniform(0, 3, (200, 6))
XI = np.random.default_rng(0).uniform(0, 15, (200, 4))


def _result():
    from labkit.spiking import LIF
    return LIF(reset="zero").run(X)


def _net():
    from labkit.spiking import Network
    return Network(n_exc=80, n_inh=20, seed=1)


def _run(n_steps=200):
    return lambda model: model.run(X, record_v=True)


M = "labkit.spiking"
CASES = [
    Case(M, "LIF", dict(tau=0.02, dt=1e-3, threshold=1.0, reset="subtract", refractory=0.0), then=_run(),
         bad={"tau": [0.0, -1e-3, 1e-3], "dt": [0.0, -1e-3, 0.02], "threshold": [0.0], "refractory": [-1e-3]}),
    Case(M, "LIF", dict(beta=0.9, threshold=1.0, reset="zero"), then=_run(), id="beta",
         bad={"beta": [1.5, -0.1]}),
    Case(M, "LIF.run", dict(current=X, record_v=True, backend="fast"), make=lambda: __import__(
        "labkit.spiking", fromlist=["LIF"]).LIF(reset="zero", refractory=2e-3)),
    Case(M, "ALIF", dict(tau=0.02, tau_adapt=0.2, beta_adapt=0.05, dt=1e-3, threshold=1.0, reset="subtract"),
         then=_run(), bad={"tau_adapt": [0.0, 1e-3], "beta_adapt": [-0.1], "tau": [-1.0]}),
    Case(M, "ALIF.run", dict(current=X, record_v=True, backend="fast"),
         make=lambda: __import__("labkit.spiking", fromlist=["ALIF"]).ALIF(beta_adapt=0.2)),
    Case(M, "Izhikevich", dict(a=0.02, b=0.2, c=-50.0, d=2.0, dt=0.25e-3), then=lambda n: n.run(XI),
         bad={"c": [30.0, 40.0], "dt": [0.0, -1e-3]}),
    Case(M, "Izhikevich.run", dict(current=XI, record_v=True, backend="fast"),
         make=lambda: __import__("labkit.spiking", fromlist=["Izhikevich"]).Izhikevich()),
    Case(M, "Izhikevich.preset", dict(name="tonic_bursting"),
         make=lambda: __import__("labkit.spiking", fromlist=["Izhikevich"]).Izhikevich, bad={"name": ["tonic"]}),
    Case(M, "Network", dict(n_exc=80, n_inh=20, p_connect=0.1, J=0.5, g=8.0, eta=2.0, dt=1e-4, seed=3),
         then=lambda net: net.run(n_steps=300),
         bad={"n_exc": [0], "n_inh": [-1], "p_connect": [1.5, -0.1], "g": [-1.0], "seed": [-1],
              "dt": [0.0, 1e-3]}),
    Case(M, "Network.run", dict(input_current=np.full((300, 100), 5.0), record_v=True, backend="fast"), make=_net),
    Case(M, "Network.mean_field", dict(current=2.0), make=_net),
    Case(M, "SpikeResult", dict(spikes=X > 2.5, dt=1e-3), bad={"dt": [0.0, -1.0]}),
    Case(M, "SpikeResult.filtered", dict(tau=0.02), make=_result, bad={"tau": [0.0, -1.0]}),
    Case(M, "SpikeResult.population_rate", dict(window=5e-3), make=_result, bad={"window": [0.0]}),
    Case(M, "SpikeResult.isi_cv", dict(min_spikes=3), make=_result, bad={"min_spikes": [1]},
         ok={"min_spikes": {"huge": "NaN is the documented CV of a neuron with fewer than min_spikes spikes"}}),
    Case(M, "lif_rate", dict(current=np.array([0.5, 1.5, 3.0]), tau=0.02, threshold=1.0, dt=1e-3, refractory=0.0),
         ok={"current": {"wrong shape": "elementwise: any shape of currents is valid",
                         "empty": "no currents -> no rates"}},
         bad={"tau": [0.0, -0.02], "dt": [0.02, -1e-3], "threshold": [0.0], "refractory": [-1e-3]}),
    Case(M, "siegert", dict(mu=15.0, sigma=10.0, tau=0.02, threshold=20.0, v_reset=10.0, refractory=2e-3,
                            tau_syn=0.5e-3),
         bad={"sigma": [0.0], "v_reset": [25.0], "tau": [0.0], "tau_syn": [-1e-3]}),
]

# spiking.torch (its own module: imported on first use); one Case for its nn.Module
CASES.append(Case("labkit.spiking.torch", "LIF", dict(beta=0.9, threshold=1.0, spike_grad="atan", alpha=2.0,
                                                      slope=25.0, learn_beta=False, learn_threshold=False,
                                                      reset_mechanism="subtract"),
                  then=lambda m: m.run(__import__("torch").from_numpy(X.astype(np.float32)))[0],
                  bad={"beta": [1.5, -0.1], "threshold": [0.0, -1.0], "alpha": [0.0], "slope": [-1.0]}))
