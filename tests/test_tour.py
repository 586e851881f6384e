"""nonlin.tour: each experiment, run small, gives the figures of real training runs."""

import subprocess
import sys

import numpy as np
import pytest

from nonlin import nn, tour

try:
    import matplotlib  # noqa: F401  (figures are checked only when it is installed)

    HAVE_MPL = True
except ImportError:
    HAVE_MPL = False


def _figure_ok(result, out):
    if HAVE_MPL:
        assert result.figure and (out / result.figure).stat().st_size > 1000
    else:
        assert result.figure is None


def test_data_sets_are_balanced_and_point_symmetric():
    rng = np.random.default_rng(0)
    for data in (tour.circles, tour.xor):
        x, y = data(200, rng)
        assert x.shape == (200, 2) and np.mean(y) == 0.5
        np.testing.assert_array_equal(x[:100], -x[100:])
        np.testing.assert_array_equal(y[:100], y[100:])
    x, y = tour.xor(400, rng)
    assert np.all(y == ((x[:, 0] > 0) ^ (x[:, 1] > 0)))


def test_linear_network_stays_at_chance_while_tanh_learns_the_circles(tmp_path):
    r = tour.linear_vs_nonlinear(n=400, epochs=40, out=str(tmp_path))
    acc = r.data["accuracy"]
    for d in ("circles", "xor"):
        assert abs(acc[d, None] - 0.5) <= 0.1
    assert acc["circles", "tanh"] > 0.95 and acc["circles", "relu"] > 0.95
    assert acc["xor", "tanh"] > 0.9
    assert all(c.agrees for c in r.claims)
    _figure_ok(r, tmp_path)


def test_large_weights_saturate_sigmoids(tmp_path):
    r = tour.saturation(n=400, epochs=5, width=32, depth=3, out=str(tmp_path))
    s = r.data
    assert s[0.1]["saturated"] == 0.0
    assert s[4.0]["saturated"] > 0.6 > s[1.0]["saturated"]
    assert s[0.1]["ratio"] < 0.1  # σ' <= 1/4: small weights shrink the gradient layer by layer
    assert len(s[4.0]["norms"]) == 4 and all(v > 0 for v in s[4.0]["norms"])
    _figure_ok(r, tmp_path)


def test_sigmoid_inputs_give_one_signed_gradients(tmp_path):
    r = tour.zero_centring(n=100, width=32, examples=40, batch=20, out=str(tmp_path))
    sig, th = r.data["sigmoid"], r.data["tanh"]
    assert sig["all_same"] == 1.0 and th["all_same"] < 0.1
    assert sig["mean_h"] > 0.3 and abs(th["mean_h"]) < 0.1
    assert sig["batch"] > th["batch"]
    _figure_ok(r, tmp_path)


def test_dead_units_only_for_relu(tmp_path):
    r = tour.dead_units(n=400, epochs=3, width=32, seeds=1, lrs=(0.01, 1.0), out=str(tmp_path))
    d = r.data
    assert d["relu", 0.0, 0.01] == 0.0
    for act in ("leaky_relu", "elu", "maxout"):
        for lr in (0.01, 1.0):
            assert d[act, 0.0, lr] in (0.0, None)  # None: the run diverged
    _figure_ok(r, tmp_path)


def test_relu_reaches_the_target_before_sigmoid(tmp_path):
    pytest.importorskip("sklearn")
    r = tour.convergence(epochs=6, seeds=1, acts=("sigmoid", "relu"), out=str(tmp_path))
    assert r.data["relu"]["epochs"] is not None and r.data["relu"]["epochs"] < 6
    assert r.data["sigmoid"]["epochs"] is None or r.data["sigmoid"]["epochs"] > 2 * r.data["relu"]["epochs"]
    _figure_ok(r, tmp_path)


def test_convergence_runs_on_any_data(tmp_path):
    rng = np.random.default_rng(0)
    r = tour.convergence(epochs=3, seeds=1, acts=("tanh", "maxout", "prelu"), target=0.6,
                         data=tour.blobs(300, rng))
    assert all(r.data[a]["epochs"] is not None for a in ("tanh", "maxout", "prelu"))
    assert r.claims == []  # the ReLU/sigmoid/tanh claims need those three


def test_constructions_are_exact(tmp_path):
    r = tour.constructions(n=1000, out=str(tmp_path))
    assert r.data["best_gap"] < 0.06
    assert all(r.data["exact"].values())
    x = np.linspace(-3, 3, 61)
    np.testing.assert_allclose(tour._hard_sigmoid(x, 1.0), np.clip((x + 1) / 2, 0, 1))
    _figure_ok(r, tmp_path)


def test_cost_times_both_sides(tmp_path):
    r = tour.cost(n=20_000, budget=0.001, names=["sigmoid", "relu", "maxout"], out=str(tmp_path))
    for name in ("sigmoid", "relu"):
        assert all(r.data[name][side, kind] > 0 for side in ("nonlin", "numpy") for kind in ("fwd", "bwd"))
    assert r.data["maxout"]["numpy", "bwd"] is None  # no NumPy formulation: left out, not faked
    _figure_ok(r, tmp_path)


def test_gallery_covers_every_elementwise_activation(tmp_path):
    r = tour.gallery(out=str(tmp_path))
    assert set(nn.ELEMENTWISE) <= set(r.data)
    g = r.data
    assert g["sigmoid"]["sat_left"] and g["sigmoid"]["sat_right"]
    assert g["relu"]["sat_left"] and not g["relu"]["sat_right"]
    assert not g["leaky_relu"]["sat_left"]
    assert g["sigmoid"]["mean"] == pytest.approx(0.5, abs=0.01)
    assert g["relu"]["mean"] == pytest.approx(1 / np.sqrt(2 * np.pi), abs=0.01)  # E max(0, z)
    _figure_ok(r, tmp_path)


def test_tables_render():
    t = tour.Table(["a", "b"], [["x", 0.5], ["yy", None], ["z", True]], "cap")
    assert t.markdown().splitlines()[2:] == ["| a | b |", "|---|---|", "| x | 0.5 |", "| yy | - |", "| z | yes |"]
    assert "cap" in t.text() and "yy" in t.text()


def test_run_writes_the_report_and_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(tour, "_pyplot", lambda: None)
    monkeypatch.setattr(tour, "_has_sklearn", lambda: False)
    lines = []
    results = tour.run(str(tmp_path), only=[5, 6], progress=lines.append)
    assert [r.number for r in results] == [6]
    text = (tmp_path / "report.md").read_text()
    assert "nonlin[plot]" in text and "nonlin[tour]" in text and "Skipped" in text
    assert "## 6. Constructions" in text and "Agrees" in text and "![" not in text
    assert any("nonlin[plot]" in line for line in lines)


def test_cli_tour(tmp_path):
    out = subprocess.run([sys.executable, "-m", "nonlin", "tour", "--only", "3", "8", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "[3/8] Zero-centring" in out.stdout and "[8/8] Gallery" in out.stdout
    text = (tmp_path / "report.md").read_text()
    assert "| # | claim (lecture) | measured | agrees |" in text
    if HAVE_MPL:
        assert (tmp_path / "8_gallery.png").exists() and "![Gallery](8_gallery.png)" in text
