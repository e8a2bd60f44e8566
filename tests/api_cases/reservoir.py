"""API cases for labkit.reservoir (see tests/api_cases/__init__.py)."""

import numpy as np

from api_cases import Case

MODULES = ["labkit.reservoir"]
M = "labkit.reservoir"

rng = np.random.default_rng(0)
U = rng.uniform(-1, 1, size=(120, 1))
Y = np.roll(U, 2)


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
    Case(M, "ESN.fit", dict(X=U, Y=Y, warmup=5), make=lambda: __import__("labkit.reservoir").reservoir.ESN(units=20, seed=0, ridge=1e-6),
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
