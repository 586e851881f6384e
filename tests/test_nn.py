"""nonlin.nn: every layer's gradients against central finite differences in float64."""

import numpy as np
import pytest

import nonlin as nl
from nonlin import nn


def _away_from_kinks(rng, shape, gap=0.05):
    """Inputs at least ``gap`` from 0 (and from ±1, ±6, ±0.5, ±3 where piecewise functions bend)."""
    x = rng.uniform(-4, 4, shape)
    for k in (0.0, 0.5, 1.0, 3.0, 6.0):
        for s in (1, -1):
            near = np.abs(x - s * k) < gap
            x[near] += 2 * gap
    return x


def _numeric(f, a, eps=1e-6):
    """d f / d a by central differences, f returning a float; a is perturbed in place."""
    g = np.zeros_like(a)
    it = np.nditer(a, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = a[i]
        a[i] = old + eps
        up = f()
        a[i] = old - eps
        down = f()
        a[i] = old
        g[i] = (up - down) / (2 * eps)
    return g


def _check_layer(layer, x, rtol=1e-6, atol=1e-8):
    """Loss sum(r * layer(x)) for a fixed random r: the backward of r must match d loss / d x and
    d loss / d every parameter."""
    rng = np.random.default_rng(1)
    y = layer.forward(x)
    r = rng.standard_normal(y.shape)
    dx = layer.backward(r)
    grads = [g.copy() for g in layer.grads()]

    def loss():
        return float(np.sum(r * layer.forward(x)))

    np.testing.assert_allclose(dx, _numeric(loss, x), rtol=rtol, atol=atol)
    for p, g in zip(layer.params(), grads):
        np.testing.assert_allclose(g, _numeric(loss, p), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", nn.ACTIVATIONS)
def test_activation_gradient(name):
    x = _away_from_kinks(np.random.default_rng(0), (5, 6))
    _check_layer(nn.Activation(name), x)


def test_every_nonlin_activation_has_a_layer():
    """A function with a backward is either a row of the table or has a layer of its own."""
    names = [n for n in dir(nl) if not n.startswith("_") and hasattr(nl, n + "_backward")]
    missing = [n for n in names if n not in nn.ACTIVATIONS and n not in nn.SPECIAL]
    assert not missing, f"add a row to nonlin.nn._TABLE for {missing}"
    for n in ("sigmoid", "tanh", "relu", "leaky_relu", "elu"):
        assert n in nn.ACTIVATIONS


@pytest.mark.parametrize("name, reads", [("sigmoid", "output"), ("tanh", "output"), ("elu", "output="),
                                         ("relu", "x"), ("leaky_relu", "x")])
def test_activation_saves_the_output_where_the_backward_reads_it(name, reads):
    layer = nn.Activation(name)
    x = np.linspace(-3, 3, 12).reshape(3, 4)
    y = layer.forward(x)
    assert layer.reads == reads
    assert layer.saved is (x if reads == "x" else y)


def test_activation_parameters_reach_forward_and_backward():
    layer = nn.Activation("leaky_relu", negative_slope=0.2)
    x = np.array([[-1.0, 2.0]])
    np.testing.assert_array_equal(layer.forward(x), [[-0.2, 2.0]])
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), [[0.2, 1.0]])
    _check_layer(nn.Activation("elu", alpha=0.5), _away_from_kinks(np.random.default_rng(2), (4, 3)))
    with pytest.raises(ValueError, match="no activation"):
        nn.Activation("sigmoidd")


def test_activation_derivative_is_the_elementwise_derivative():
    x = np.linspace(-8, 8, 40).reshape(4, 10)
    for name in ("sigmoid", "tanh", "elu", "leaky_relu"):
        layer = nn.Activation(name)
        layer.forward(x)
        # From the saved output (y(1 - y) for sigmoid): close to the derivative from x, not exact.
        np.testing.assert_allclose(layer.derivative(), getattr(nl, name + "_derivative")(x), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("init", ["xavier", "he", "normal"])
def test_linear_gradient(init):
    rng = np.random.default_rng(3)
    layer = nn.Linear(4, 3, init=init, bias_init=0.5, rng=rng)
    _check_layer(layer, rng.standard_normal((6, 4)))


def test_linear_init_scales():
    rng = np.random.default_rng(0)
    big = 400
    xa = nn.Linear(big, big, "xavier", rng=rng).W
    he = nn.Linear(big, big, "he", rng=rng).W
    no = nn.Linear(big, big, "normal", scale=3.0, rng=rng).W
    assert abs(xa.var() / (2 / (2 * big)) - 1) < 0.02
    assert abs(xa.max() - np.sqrt(6 / (2 * big))) < 1e-3
    assert abs(he.var() / (2 / big) - 1) < 0.02
    assert abs(no.std() / 3 - 1) < 0.02
    assert np.all(nn.Linear(3, 5, bias_init=0.01).b == 0.01)
    assert nn.Linear(3, 5, dtype=np.float32).W.dtype == np.float32
    with pytest.raises(ValueError, match="init"):
        nn.Linear(2, 2, init="orthogonal")


def test_prelu_gradient_includes_the_weight():
    rng = np.random.default_rng(4)
    layer = nn.PReLU(5)
    layer.weight[...] = rng.uniform(0.05, 0.5, 5)
    x = _away_from_kinks(rng, (7, 5))
    _check_layer(layer, x)
    assert np.any(layer.dweight != 0)


@pytest.mark.parametrize("pieces", [1, 2, 3])
def test_maxout_gradient_for_x_w_b(pieces):
    rng = np.random.default_rng(5)
    layer = nn.Maxout(4, 3, pieces=pieces, rng=rng)
    layer.b[...] = rng.standard_normal(layer.b.shape)
    _check_layer(layer, rng.standard_normal((6, 4)))
    assert layer.W.shape == (4, 3, pieces) and layer.b.shape == (3, pieces)


def test_maxout_is_the_max_of_affine_pieces():
    rng = np.random.default_rng(6)
    layer = nn.Maxout(4, 3, pieces=5, rng=rng)
    x = rng.standard_normal((8, 4))
    expect = (np.einsum("nd,dmk->nmk", x, layer.W) + layer.b).max(axis=-1)
    np.testing.assert_allclose(layer.forward(x), expect, rtol=1e-13)


def test_sequential_gradient_through_every_kind_of_layer():
    rng = np.random.default_rng(7)
    net = nn.Sequential(nn.Linear(3, 6, rng=rng, bias_init=0.1), nn.Activation("tanh"),
                        nn.Maxout(6, 4, pieces=2, rng=rng), nn.PReLU(4), nn.Linear(4, 5, rng=rng),
                        nn.Activation("sigmoid"), nn.Linear(5, 2, rng=rng), nn.Identity())
    _check_layer(net, rng.standard_normal((5, 3)))
    assert len(net.params()) == len(net.grads()) == 2 + 2 + 1 + 2 + 2


def test_softmax_cross_entropy_value_gradient_and_stability():
    rng = np.random.default_rng(8)
    z = rng.standard_normal((6, 4))
    labels = rng.integers(0, 4, 6)
    loss = nn.SoftmaxCrossEntropy()
    value = loss.forward(z, labels)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert value == pytest.approx(-np.mean(np.log(p[np.arange(6), labels])), rel=1e-13)
    g = loss.backward()
    np.testing.assert_allclose(g, _numeric(lambda: loss.forward(z, labels), z), rtol=1e-6, atol=1e-9)
    big = np.array([[1000.0, 0.0], [0.0, -1000.0]])
    assert loss.forward(big, np.array([0, 0])) == 0.0
    assert loss.forward(big, np.array([1, 1])) == 1000.0  # each row is 1000 nats off, no inf
    assert np.all(np.isfinite(loss.backward()))


def test_mse_value_and_gradient():
    rng = np.random.default_rng(9)
    y, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    loss = nn.MSE()
    assert loss.forward(y, t) == pytest.approx(np.mean((y - t) ** 2))
    g = loss.backward()
    np.testing.assert_allclose(g, _numeric(lambda: loss.forward(y, t), y), rtol=1e-6, atol=1e-9)


def test_sgd_momentum_steps():
    layer = nn.Linear(1, 1)
    layer.W[...] = 1.0
    layer.b[...] = 0.0
    opt = nn.SGD(layer, lr=0.1, momentum=0.9)
    layer.dW[...] = 2.0
    layer.db[...] = -1.0
    opt.step()  # v = g; p -= lr v
    assert layer.W[0, 0] == pytest.approx(1 - 0.1 * 2)
    assert layer.b[0] == pytest.approx(0.1)
    opt.step()  # v = 0.9 g + g = 1.9 g
    assert layer.W[0, 0] == pytest.approx(1 - 0.2 - 0.1 * 1.9 * 2)
    assert layer.b[0] == pytest.approx(0.1 + 0.1 * 1.9)


def test_training_reduces_the_loss():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((64, 2))
    labels = (x[:, 0] * x[:, 1] > 0).astype(int)
    net = nn.Sequential(nn.Linear(2, 16, rng=rng), nn.Activation("tanh"), nn.Linear(16, 2, rng=rng))
    loss, opt = nn.SoftmaxCrossEntropy(), nn.SGD(net, lr=0.2, momentum=0.9)
    first = loss.forward(net.forward(x), labels)
    for _ in range(200):
        loss.forward(net.forward(x), labels)
        net.backward(loss.backward())
        opt.step()
    assert loss.forward(net.forward(x), labels) < 0.3 * first
    assert nn.accuracy(net.forward(x), labels) > 0.9


def test_layers_keep_float32():
    rng = np.random.default_rng(11)
    net = nn.Sequential(nn.Linear(3, 4, rng=rng, dtype=np.float32), nn.Activation("sigmoid"),
                        nn.Maxout(4, 2, rng=rng, dtype=np.float32), nn.PReLU(2, dtype=np.float32))
    y = net.forward(rng.standard_normal((5, 3)).astype(np.float32))
    assert y.dtype == np.float32
    assert net.backward(np.ones_like(y)).dtype == np.float32
