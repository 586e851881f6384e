"""nonlin.diagnostics on hand-made arrays and on real layers."""

import numpy as np
import pytest

from nonlin import diagnostics as dg
from nonlin import nn


def test_saturated_fraction_counts_small_derivatives():
    assert dg.saturated_fraction(np.array([0.25, 0.001, -0.005, 0.5]), threshold=0.01) == 0.5
    assert dg.saturated_fraction(np.empty((0, 3))) == 0.0


def test_sigmoid_saturates_beyond_4_6():
    layer = nn.Activation("sigmoid")
    a = np.array([[-10.0, -4.0, 0.0, 4.0, 5.0, 10.0]])
    layer.forward(a)
    # σ'(4) = 0.0177 is above 0.01, σ'(5) = 0.0066 below.
    assert dg.saturated_fraction(layer.derivative(), 0.01) == pytest.approx(3 / 6)


def test_dead_fraction_is_per_unit_over_the_batch():
    a = np.array([[-1.0, 2.0, -3.0, 0.0], [-2.0, -1.0, 0.5, 0.0]])
    relu = nn.Activation("relu")
    relu.forward(a)
    # unit 0 never active, unit 3 sits at 0 (relu'(0) = 0): dead; units 1 and 2 fire once.
    assert dg.dead_fraction(relu.derivative()) == 0.5
    assert dg.inactive_fraction(a) == 0.5
    leaky = nn.Activation("leaky_relu")
    leaky.forward(a)
    assert dg.dead_fraction(leaky.derivative()) == 0.0
    elu = nn.Activation("elu")
    elu.forward(a)
    assert dg.dead_fraction(elu.derivative()) == 0.0
    with pytest.raises(ValueError, match="dead_fraction"):
        dg.dead_fraction(np.ones(3))


def test_maxout_units_always_pass_gradient():
    layer = nn.Maxout(3, 4, pieces=2, bias_init=-100.0)
    layer.forward(np.random.default_rng(0).standard_normal((5, 3)))
    d = layer.derivative()
    assert d.shape == (5, 4) and np.all(d == 1)
    assert dg.dead_fraction(d) == 0.0


def test_same_sign_fraction():
    g = np.array([[1.0, 1.0, 2.0], [2.0, -1.0, 0.0], [3.0, 1.0, 0.0], [4.0, -1.0, 0.0]])
    # column 0: 4/4 positive; column 1: 2 and 2 -> 0.5; column 2: one nonzero -> 1.
    assert dg.same_sign_fraction(g) == pytest.approx((1 + 0.5 + 1) / 3)
    assert dg.all_same_sign_fraction(g) == pytest.approx(2 / 3)


def test_positive_inputs_give_one_signed_weight_gradients():
    """The lecture's argument: after a sigmoid every input is positive, so for one example the
    gradient of each next-layer neuron's weights h_i δ_j has the sign of δ_j."""
    rng = np.random.default_rng(1)
    for name, expect_all in (("sigmoid", True), ("tanh", False)):
        net = nn.Sequential(nn.Linear(8, 16, rng=rng), nn.Activation(name), nn.Linear(16, 4, rng=rng))
        net.forward(rng.standard_normal((1, 8)))
        net.backward(rng.standard_normal((1, 4)))
        frac = dg.all_same_sign_fraction(net.layers[2].dW)
        assert (frac == 1.0) == expect_all


def test_gradient_norms_per_layer():
    rng = np.random.default_rng(2)
    net = nn.Sequential(nn.Linear(3, 4, rng=rng), nn.Activation("tanh"), nn.Linear(4, 2, rng=rng))
    net.forward(rng.standard_normal((5, 3)))
    net.backward(np.ones((5, 2)))
    norms = dg.gradient_norms(net)
    assert [n for n, _ in norms] == ["0:Linear(3, 4)", "2:Linear(4, 2)"]
    l2 = net.layers[2]
    assert norms[1][1] == pytest.approx(np.sqrt(np.sum(l2.dW**2) + np.sum(l2.db**2)))
