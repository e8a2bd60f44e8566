"""labkit.spiking.torch: surrogate gradients against their closed forms, the LIF update against its
written equation (and snnTorch 1.0.0's Leaky, labkit.spiking.LIF), bad input, and digits training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from labkit.spiking import surrogate
from labkit.spiking.torch import LIF, QuantizedMLP, SpikingMLP, encode, train_digits

# -- surrogate gradients ------------------------------------------------------------------------------
X = torch.linspace(-2, 2, 801, dtype=torch.float64)


@pytest.mark.parametrize("scale", [0.5, 2.0, 5.0])
def test_atan_surrogate_gradient_is_its_closed_form(scale):
    x = X.clone().requires_grad_(True)
    surrogate.spike(x, "atan", scale).sum().backward()
    closed = (scale / 2) / (1 + (math.pi / 2 * scale * X) ** 2)
    torch.testing.assert_close(x.grad, closed, rtol=1e-12, atol=0)
    # ... which is the derivative of the smooth stand-in 1/pi * arctan(pi*alpha*x/2) (autograd)
    y = X.clone().requires_grad_(True)
    (torch.atan(math.pi * scale * y / 2) / math.pi).sum().backward()
    torch.testing.assert_close(x.grad, y.grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("scale", [1.0, 25.0, 100.0])
def test_fast_sigmoid_surrogate_gradient_is_its_closed_form(scale):
    x = X.clone().requires_grad_(True)
    surrogate.spike(x, "fast_sigmoid", scale).sum().backward()
    torch.testing.assert_close(x.grad, 1 / (1 + scale * X.abs()) ** 2, rtol=1e-12, atol=0)
    y = X.clone().requires_grad_(True)
    (y / (1 + scale * y.abs())).sum().backward()            # SuperSpike's fast sigmoid
    torch.testing.assert_close(x.grad, y.grad, rtol=1e-12, atol=1e-15)


def test_spike_forward_is_strict_heaviside():
    x = torch.tensor([-1.0, 0.0, 1e-7, 3.0])
    assert surrogate.spike(x).tolist() == [0.0, 0.0, 1.0, 1.0]


@pytest.mark.parametrize("spike_grad, scale", [("atan", 2.0), ("fast_sigmoid", 25.0)])
def test_lif_gradient_flows_through_the_surrogate(spike_grad, scale):
    """One step from rest: dS/dI = surrogate'(I - U_thr) (beta*0 + I = U)."""
    lif = LIF(beta=0.8, threshold=1.0, spike_grad=spike_grad)
    i = torch.linspace(0, 2, 21, requires_grad=True)
    spk, _ = lif(i)
    spk.sum().backward()
    closed = surrogate.SURROGATES[spike_grad](i.detach() - 1.0, scale)
    torch.testing.assert_close(i.grad, closed)


# -- the update equation ------------------------------------------------------------------------------
def reference(inp: np.ndarray, beta, thr: float, reset: str):
    """The equations of the module docstring, written out in numpy (float64)."""
    T, n = inp.shape
    U = np.zeros(n)
    spikes, mems = np.zeros((T, n), bool), np.zeros((T, n))
    for t in range(T):
        R = (U - thr > 0).astype(float)
        if reset == "subtract":
            U = beta * U + inp[t] - R * thr
        elif reset == "zero":
            U = beta * (1 - R) * U + inp[t]
        else:
            U = beta * U + inp[t]
        spikes[t], mems[t] = U - thr > 0, U
    return spikes, mems


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
@pytest.mark.parametrize("per_neuron", [False, True])
def test_forward_follows_the_written_equation(reset, per_neuron):
    rng = np.random.default_rng(1)
    T, n = 300, 50
    inp = rng.uniform(-0.2, 0.6, (T, n)).astype(np.float32)
    beta = rng.uniform(0.5, 0.99, n).astype(np.float32) if per_neuron else 0.9
    spk, mem = LIF(beta=beta, threshold=1.0, reset_mechanism=reset).run(torch.from_numpy(inp))
    ref_spk, ref_mem = reference(inp.astype(np.float64), np.asarray(beta, np.float64), 1.0, reset)
    assert spk.dtype == torch.float32 and spk.shape == (T, n)
    # float32 vs float64 can only disagree where U sits within rounding of the threshold
    close = np.abs(ref_mem - 1.0) < 1e-4
    assert (spk.numpy().astype(bool) == ref_spk)[~close].all()
    assert ref_spk.sum() > 100


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_spike_for_spike_equal_to_snntorch_leaky(reset):
    snn = pytest.importorskip("snntorch")
    rng = np.random.default_rng(2)
    inp = torch.from_numpy(rng.uniform(0, 0.5, (500, 64)).astype(np.float32))
    ours, our_mem = LIF(beta=0.85, reset_mechanism=reset).run(inp)
    leaky = snn.Leaky(beta=0.85, reset_mechanism=reset)
    mem, theirs, their_mem = None, [], []
    with torch.no_grad():
        for t in range(len(inp)):
            s, mem = leaky(inp[t], mem)
            theirs.append(s)
            their_mem.append(mem)
    assert torch.equal(ours, torch.stack(theirs))
    assert torch.equal(our_mem, torch.stack(their_mem))


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_spike_for_spike_equal_to_labkit_spiking_lif(reset):
    """The same equation as labkit.spiking.LIF(beta=...): run both in float64 with the same beta
    (the module stores beta as float32, so labkit gets that float32 value)."""
    spiking = pytest.importorskip("labkit.spiking")
    if not hasattr(spiking, "LIF"):
        pytest.skip("labkit.spiking.LIF not built yet")
    rng = np.random.default_rng(3)
    inp = rng.uniform(0, 0.5, (400, 80))
    lif = LIF(beta=0.9, reset_mechanism=reset).double()
    ours, mem = lif.run(torch.from_numpy(inp))
    res = spiking.LIF(beta=float(lif.beta), reset=reset).run(inp, record_v=True)
    assert np.array_equal(ours.numpy().astype(bool), res.spikes) and res.spikes.sum() > 1000
    assert np.array_equal(mem.numpy(), res.v)


def test_learnable_beta_and_threshold_get_gradients_and_beta_is_clamped():
    lif = LIF(beta=0.9, learn_beta=True, learn_threshold=True)
    names = {n for n, _ in lif.named_parameters()}
    assert names == {"beta", "threshold"}
    spk, mem = lif.run(torch.full((20, 4), 0.3))
    (spk.sum() + mem.sum()).backward()
    assert lif.beta.grad is not None and lif.threshold.grad is not None and lif.threshold.grad.abs() > 0
    with torch.no_grad():
        lif.beta.fill_(1.7)
    _, mem = lif.run(torch.zeros(3, 4), mem=torch.full((4,), 0.5))
    assert torch.allclose(mem[0], torch.full((4,), 0.5))      # beta used as 1.0, not 1.7
    fixed = LIF(beta=0.9)
    assert list(fixed.parameters()) == [] and {n for n, _ in fixed.named_buffers()} == {"beta", "threshold"}


def test_get_params_are_the_constructor_values():
    lif = LIF(beta=0.8, threshold=0.5, spike_grad="fast_sigmoid", learn_beta=True)
    p = lif.get_params()
    assert p["beta"] == 0.8 and p["threshold"] == 0.5 and p["spike_grad"] == "fast_sigmoid"
    assert LIF(**p).get_params() == p
    assert "beta=0.8" in repr(lif)


# -- bad input ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, name, exc", [
    (dict(beta=1.5), "beta", ValueError),
    (dict(beta=-0.1), "beta", ValueError),
    (dict(beta="x"), "beta", TypeError),
    (dict(beta=[0.5, 1.2]), "beta", ValueError),
    (dict(beta=0.9, threshold=0.0), "threshold", ValueError),
    (dict(beta=0.9, threshold=float("nan")), "threshold", ValueError),
    (dict(beta=0.9, spike_grad="sigmoid"), "spike_grad", ValueError),
    (dict(beta=0.9, reset_mechanism="reset"), "reset_mechanism", ValueError),
    (dict(beta=0.9, learn_beta="yes"), "learn_beta", TypeError),
    (dict(beta=0.9, alpha=0.0), "alpha", ValueError),
])
def test_bad_constructor_arguments_name_themselves(kwargs, name, exc):
    with pytest.raises(exc, match=rf"^{name}: expected"):
        LIF(**kwargs)


def test_bad_inputs_name_themselves():
    lif = LIF(beta=0.9)
    with pytest.raises(ValueError, match="^input_: expected finite"):
        lif(torch.tensor([0.1, float("nan")]))
    with pytest.raises(TypeError, match="^input_:"):
        lif([0.1, 0.2])
    with pytest.raises(ValueError, match="^input_: expected a floating"):
        lif(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="^mem: expected shape"):
        lif(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match="^input_: expected a non-empty tensor with at least 2"):
        lif.run(torch.zeros(5))
    with pytest.raises(ValueError, match="^input_: expected last dimension 3"):
        LIF(beta=[0.9, 0.9, 0.9]).run(torch.zeros(5, 4))
    with pytest.raises(ValueError, match="^x: expected intensities"):
        encode(np.full((2, 3), 2.0), 5)
    with pytest.raises(ValueError, match="^encoding:"):
        encode(np.zeros((2, 3)), 5, "poisson")
    with pytest.raises(ValueError, match="^model:"):
        train_digits(model="cnn")
    with pytest.raises(ValueError, match="^num_steps:"):
        train_digits(num_steps=0)


# -- encodings and models -----------------------------------------------------------------------------
def test_encodings():
    x = np.array([[0.0, 0.25, 1.0]], np.float32)
    lat = encode(x, 5, "latency")
    assert lat.shape == (5, 1, 3) and lat.sum(0).tolist() == [[0.0, 1.0, 1.0]]
    assert lat[:, 0, 2].argmax() == 0 and lat[:, 0, 1].argmax() == 3     # round(0.75*4) = 3
    assert torch.equal(encode(x, 4, "direct")[2], torch.from_numpy(x))
    r = encode(np.full((200, 50), 0.3, np.float32), 40, "rate", seed=0)
    assert abs(float(r.mean()) - 0.3) < 0.01
    assert torch.equal(r, encode(np.full((200, 50), 0.3, np.float32), 40, "rate", seed=0))


def test_quantized_mlp_hidden_takes_two_to_the_bits_levels():
    net = QuantizedMLP(4, 1000, 2, bits=2)
    h = {}
    net.fc2.register_forward_hook(lambda m, i, o: h.setdefault("x", i[0]))
    net(torch.randn(50, 4))
    levels = np.unique(h["x"].detach().numpy()) * 3
    assert np.allclose(levels, np.round(levels), atol=1e-6) and set(np.round(levels)) == {0, 1, 2, 3}


def test_spiking_mlp_counts_take_t_plus_one_levels():
    net = SpikingMLP(4, 30, 2, beta=0.9)
    logits, spk = net(torch.rand(7, 5, 4), return_spikes=True)
    assert logits.shape == (5, 2) and spk.shape == (7, 5, 30)
    assert set(np.unique(spk.detach().sum(0).numpy())) <= set(range(8))


# -- training -----------------------------------------------------------------------------------------
SMALL = dict(num_steps=8, n_hidden=64, epochs=6)


def test_training_is_seeded():
    a = train_digits(seed=5, epochs=1, num_steps=4, n_hidden=16)
    b = train_digits(seed=5, epochs=1, num_steps=4, n_hidden=16)
    assert a.accuracy == b.accuracy and np.array_equal(a.loss, b.loss)


@pytest.mark.parametrize("seed", [0, 1])
def test_small_spiking_classifier_learns_digits(seed):
    """BPTT through the surrogate at small size (T=8, 64 hidden, 6 epochs). Measured over seeds
    0-19: held-out accuracy 0.880-0.922, mean 0.904, sd 0.009; the bound sits 6 sd below the worst."""
    r = train_digits(seed=seed, **SMALL)
    assert r.accuracy >= BOUND_SMALL, r
    assert r.loss[-1] < r.loss[0]
    assert 0.01 < r.spike_rate < 0.9


BOUND_SMALL = 0.82
