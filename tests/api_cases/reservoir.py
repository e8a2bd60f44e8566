"""API cases for labkit.reservoir (see tests/api_cases/__init__.py)."""

import numpy as np

from api_cases import Case

MODULES = ["labkit.reservoir"]
M = "labkit.reservoir"

rng = np.random.default_rng(0)
U = rng.uniform(-1, 1, size=(120, 1))
Y = np.roll(U, 2)


def _esn(**kw):
    from labkit.reservoir import ESN
    return ESN(**kw)


def _fitted():
    from labkit.reservoir import ESN
    return ESN(units=30, sr=0.9, lr=0.5, seed=1, ridge=1e-6).fit(U, Y, warmup=10)


def _esn_drawn():
    from labkit.reservoir import ESN
    esn = ESN(units=20, sr=0.9, seed=1, ridge=1e-6)
    esn.run(U[:1])
    return esn


CASES = [
    Case(M, "ESN", dict(units=30, sr=0.9, lr=0.5, input_scaling=1.0, rc_connectivity=0.2, input_connectivity=0.5,
                        bias=0.1, ridge=1e-6, activation="tanh", seed=1),
         then=lambda esn: esn.fit(U, Y, warmup=10).predict(U), memory=True,
         bad={"units": [0, -3, 10**9], "lr": [0.0, 1.5], "sr": [0.0, -1.0], "rc_connectivity": [0.0, 1.5],
              "input_connectivity": [0.0, 2.0], "ridge": [-1.0], "input_scaling": [-1.0]}),
    Case(M, "ESN.fit", dict(X=U, Y=Y, warmup=5), make=lambda: _esn(units=20, seed=0, ridge=1e-6),
         bad={"warmup": [-1, 120]}, ok={"X": {"wrong shape": "a (T,) series is one input feature"},
                                       "Y": {"wrong shape": "a (T,) target is one output"}}),
    Case(M, "ESN.predict", dict(X=U[:20]), make=_fitted,
         ok={"X": {"wrong shape": "a (T,) series is one input feature"}}),
    Case(M, "ESN.generate", dict(n_steps=5, warmup=U[:30]), make=_fitted, bad={"n_steps": [0, -2]},
         ok={"warmup": {"wrong shape": "a (T,) seed is one input feature"}}),
    Case(M, "memory_capacity", dict(esn=_esn_drawn(), k_max=10, seed=0), bad={"k_max": [0, -1]}),
    Case(M, "nrmse", dict(y_true=U[:, 0], y_pred=U[:, 0] * 0.9, norm="var"),
         ok={"y_true": {"wrong shape": "any shape, matched with y_pred"},
             "y_pred": {"wrong shape": "any shape, matched with y_true"}}),
    Case(M, "rmse", dict(y_true=U, y_pred=U * 0.9), ok={"y_true": {"wrong shape": "any shape"},
                                                         "y_pred": {"wrong shape": "any shape"}}),
    Case(M, "rsquare", dict(y_true=U, y_pred=U * 0.9), ok={"y_true": {"wrong shape": "any shape"},
                                                            "y_pred": {"wrong shape": "any shape"}}),
    Case(M, "spectral_radius", dict(W=np.array([[0.0, 2.0], [0.5, 0.0]]))),
    Case(M, "mackey_glass", dict(n_timesteps=50, tau=17, a=0.2, b=0.1, n=10, x0=1.2, h=1.0, seed=3),
         bad={"n_timesteps": [0, 10**12], "h": [0.0]}),
    Case(M, "narma", dict(n_timesteps=50, order=10, seed=3), bad={"n_timesteps": [0], "order": [0]}),
    Case(M, "lorenz", dict(n_timesteps=20, rho=28.0, h=0.03), bad={"n_timesteps": [0], "h": [0.0, -1.0]}),
    Case(M, "to_forecasting", dict(X=U, forecast=3), bad={"forecast": [0, 120]},
         ok={"X": {"wrong shape": "a (T,) series is one feature"}}),
    Case(M, "parity", dict(n_timesteps=40, N=3, seed=1), bad={"N": [0]}),
    Case(M, "delayed_match", dict(n_timesteps=40, N=3, seed=1), bad={"N": [0]}),
]


# -- batched runs, E/I reservoirs, memory tasks (labkit/reservoir/batch.py, ei.py, memtasks.py) ---------
def _batch():
    from labkit.reservoir import ESNBatch
    return ESNBatch.seeds(range(2), units=20, sr=0.9, ridge=1e-6)


def _eiesn():
    from labkit.reservoir import EIESN
    return EIESN(units=30, sr=3.0, input_connectivity=1.0, input_scaling=0.2, bias=-1.0, seed=1)


def _esns():
    from labkit.reservoir import ESN
    return [ESN(units=20, sr=0.9, seed=s, ridge=1e-6) for s in (1, 2)] + [ESN(units=15, lr=0.3, seed=3, ridge=1e-4)]


CASES += [
    Case(M, "ESNBatch", dict(esns=_esns(), backend="fast"), then=lambda b: b.fit(U, Y, warmup=10).predict(U)),
    Case(M, "ESNBatch.fit", dict(X=U, Y=Y, warmup=5), make=_batch, bad={"warmup": [-1, 120]},
         ok={"X": {"wrong shape": "a (T,) series is one input feature"},
             "Y": {"wrong shape": "a (T,) target is one output"}}),
    Case(M, "ESNBatch.predict", dict(X=U[:20]), make=lambda: _batch().fit(U, Y, warmup=10),
         ok={"X": {"wrong shape": "a (T,) series is one input feature"}}),
    Case(M, "EIESN", dict(units=30, exc_fraction=0.8, balance=1.2, lr=0.5, sr=3.0, input_scaling=0.5,
                          rc_connectivity=0.2, input_connectivity=0.5, bias=-0.5, ridge=1e-6, activation="sigmoid",
                          seed=1),
         then=lambda esn: esn.fit(U, Y, warmup=10).predict(U), memory=True,
         bad={"units": [0, 1], "exc_fraction": [0.0, 1.0, 0.01], "balance": [-1.0], "sr": [0.0], "lr": [0.0]}),
    Case(M, "EIESN.adapt", dict(X=U, target=0.3, eta=0.01, epochs=1, heterogeneity=0.2, seed=0), make=_eiesn,
         bad={"target": [0.0, 1.0], "eta": [-1.0], "epochs": [0], "heterogeneity": [1.0, -0.1]},
         ok={"X": {"wrong shape": "a (T,) series is one input feature"}}),
    Case(M, "ei_sweep", dict(balances=[0.8, 1.2], task="memory_capacity", seeds=[0], k_max=10, units=20, sr=3.0),
         bad={"balances": [[], [-1.0]], "seeds": [[-1]], "k_max": [0]}),
    Case(M, "adapt_compare", dict(task="memory_capacity", seeds=[0], balances=[1.0], targets=[0.3], heterogeneity=0.5,
                                  eta=0.01, epochs=1, k_max=10, units=20, sr=3.0),
         bad={"targets": [[1.5]], "heterogeneity": [1.0], "eta": [-1.0], "epochs": [0]}),
    Case(M, "ei_study", dict(seeds=[0], units=12), bad={"units": [5], "seeds": [[]]}),
    Case(M, "narma_nrmse", dict(esn=_esn_drawn(), order=10, n_train=200, n_test=100, warmup=10, seed=0, norm="minmax"),
         bad={"order": [0], "n_train": [1], "warmup": [-1, 300]}),
    Case(M, "recall_accuracy", dict(esn=_esn_drawn(), task="parity", N=[1, 2], n_train=200, n_test=100, warmup=10,
                                    seed=0),
         bad={"N": [[0], []], "n_test": [1]}),
    Case(M, "orthogonal_W", dict(units=5, sr=0.9, seed=0), bad={"units": [0], "sr": [0.0]}),
]

# -- the liquid state machine and the trained timescales ------------------------------------------------
S_SEQ = np.random.default_rng(1).random((4, 6, 2)) < 0.3
LABELS = np.array([0, 1, 0, 1])
LSM_KW = dict(units=30, inh_fraction=0.2, p_connect=0.2, J=0.5, g=5.0, eta=0.0, input_scaling=40.0,
              input_connectivity=1.0, bias=25.0, tau=20e-3, tau_syn=5e-3, threshold=20.0, v_reset=10.0,
              refractory=2e-3, dt=1e-3, steps_per_input=1, tau_readout=0.05, ridge=10.0, seed=1)


def _lsm(**kw):
    from labkit.reservoir import LSM
    return LSM(**{**LSM_KW, **kw})


def _curriculum_fields():
    return dict(curriculum="single", Ns=np.array([2, 3]), steps=np.array([50, 100]), accuracy=np.array([0.99, 0.7]),
                solved=np.array([True, False]), tau=np.ones((2, 4)) * 1.5, forgetting=0.5)


CASES += [
    Case(M, "LSM", LSM_KW, then=lambda lsm: lsm.fit(U, Y, warmup=10).predict(U), memory=True,
         bad={"units": [1, -3, 10**9], "inh_fraction": [1.0, -0.1, 0.99], "p_connect": [1.5, -0.1],
              "input_connectivity": [0.0, 1.5], "tau_readout": [0.0], "steps_per_input": [0], "ridge": [-1.0],
              "g": [-1.0], "eta": [-1.0], "dt": [0.0, 0.01], "tau_syn": [0.0], "v_reset": [25.0],
              "input_scaling": [-1.0]}),
    Case(M, "LSM.fit", dict(X=U, Y=Y, warmup=5), make=_lsm, bad={"warmup": [-1, 120]},
         ok={"X": {"wrong shape": "a (T,) series is one input feature"},
             "Y": {"wrong shape": "a (T,) target is one output"}}),
    Case(M, "LSM.predict", dict(X=U[:20], context=U[:10]), make=lambda: _lsm().fit(U, Y, warmup=10),
         ok={"X": {"wrong shape": "a (T,) series is one input feature"},
             "context": {"wrong shape": "a (T,) context is one input feature"}}),
    Case(M, "LSM.transform", dict(sequences=S_SEQ, gap=3), make=_lsm, bad={"gap": [-1]}),
    Case(M, "LSM.fit_classes", dict(sequences=S_SEQ, labels=LABELS, gap=2), make=_lsm,
         bad={"labels": [LABELS[:3], LABELS + 0.5], "gap": [-1]}),
    Case(M, "LSM.predict_classes", dict(sequences=S_SEQ, gap=2),
         make=lambda: _lsm().fit_classes(S_SEQ, LABELS, gap=2), bad={"gap": [-1]}),
    Case(M, "spike_encode", dict(X=np.array([[0.0, 0.5], [1.0, 0.25]]), n_steps=5, kind="poisson", max_rate=100.0,
                                 dt=1e-3, seed=0),
         bad={"X": [np.array([[-0.5, 0.5]]), np.array([[1.5]])], "n_steps": [0], "max_rate": [-1.0, 2000.0],
              "dt": [0.0]}),
    Case(M, "readout_states", dict(spikes=(np.random.default_rng(2).random((12, 3)) < 0.3).astype(float),
                                   steps_per_input=3, decay=0.9),
         bad={"steps_per_input": [0, 5], "decay": [1.5, -0.1]}),
    Case(M, "LeakyRNN", dict(units=8, heads=2, seed=0),
         then=lambda m: [o.detach() for o in m(__import__("torch").tensor([[1.0, 0.0, 1.0]]))],
         bad={"units": [0], "heads": [0], "seed": [-1]}),
    Case(M, "parity_batch", dict(Ns=np.array([2, 3]), batch=8, seed=0), bad={"Ns": [np.array([0, 2])], "batch": [0]}),
    Case(M, "train_curriculum", dict(curriculum="multi", N_max=3, N_min=2, units=8, batch=16, lr=1e-2, max_steps=20,
                                     eval_every=10, threshold=0.98, seed=0),
         bad={"N_max": [1], "N_min": [0], "units": [0], "batch": [0], "lr": [0.0], "max_steps": [0],
              "eval_every": [0, 10**8], "threshold": [0.2, 1.5]}),
    Case(M, "CurriculumResult", _curriculum_fields(),
         bad={"Ns": [np.array([2])], "solved": [np.array([1, 0])], "tau": [np.ones((3, 4))], "forgetting": [1.5]},
         ok={"forgetting": {"nan": "NaN: the multi-head curriculum has no forgetting test"}}),
]
