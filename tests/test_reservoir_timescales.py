"""labkit.reservoir.timescales: the parity batches against labkit.reservoir.parity, the leaky RNN's update,
and a tiny curriculum run (deterministic, shapes, taus >= 1)."""

import numpy as np
import pytest
import torch

from labkit.reservoir import CurriculumResult, LeakyRNN, parity_batch, train_curriculum


def test_parity_batch_labels_are_the_parity_of_the_last_N_bits():
    u, labels = parity_batch([2, 3, 5], batch=64, seed=1)
    assert u.shape[0] == 64 and 5 + 2 <= u.shape[1] < 5 + 2 + 7.5 and set(np.unique(u)) <= {0.0, 1.0}
    for i, N in enumerate([2, 3, 5]):
        np.testing.assert_array_equal(labels[i], u[:, -N:].sum(axis=1) % 2)
    u2, labels2 = parity_batch([2, 3, 5], batch=64, seed=1)
    np.testing.assert_array_equal(u, u2) and np.testing.assert_array_equal(labels, labels2)


def test_leaky_rnn_step_is_the_papers_update():
    net = LeakyRNN(units=5, heads=2, seed=0)
    u = torch.tensor([[1.0, 0.0, 1.0]])
    out, states = net(u, return_states=True)
    assert len(out) == 2 and out[0].shape == (1, 2) and states.shape == (1, 3, 5)
    assert torch.all(net.tau >= 1) and torch.all(torch.diag(net.w_hh.weight) == 0)
    tau, h = net.tau.detach(), torch.zeros(5)
    with torch.no_grad():
        for t in range(3):
            pre = net.w_hh(h) + net.w_in(u[0, t:t + 1])
            h = torch.nn.functional.leaky_relu((1 - 1 / tau) * h + pre / tau)
            torch.testing.assert_close(states[0, t], h)
    same = LeakyRNN(units=5, heads=2, seed=0)
    torch.testing.assert_close(same.tau_raw, net.tau_raw)
    net.add_head()
    assert len(net(u)) == 3 and net.get_params() == {"units": 5, "heads": 3, "seed": 0}


@pytest.mark.parametrize("curriculum", ["single", "multi"])
def test_a_tiny_curriculum_runs_and_is_deterministic(curriculum):
    kw = dict(curriculum=curriculum, N_max=3, units=16, batch=64, max_steps=150, eval_every=50, seed=2)
    a, b = train_curriculum(**kw), train_curriculum(**kw)
    assert isinstance(a, CurriculumResult) and a.curriculum == curriculum
    np.testing.assert_array_equal(a.tau, b.tau)
    np.testing.assert_array_equal(a.accuracy, b.accuracy)
    assert a.Ns[0] == 2 and a.tau.shape == (len(a.Ns), 16) and (a.tau >= 1).all()
    assert len(a.steps) == len(a.accuracy) == len(a.solved) == len(a.Ns)
    assert a.solved[:-1].all()                   # the curriculum stops at the first unsolved stage
    assert np.isnan(a.forgetting) == (curriculum == "multi")


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="curriculum"):
        train_curriculum("both")
    with pytest.raises(ValueError, match="N_max"):
        train_curriculum(N_max=1, N_min=2)
    with pytest.raises(ValueError, match="threshold"):
        train_curriculum(threshold=0.2)
    with pytest.raises(TypeError, match="units"):
        LeakyRNN(units=2.5)
    with pytest.raises(ValueError, match="Ns"):
        parity_batch([], 4)
