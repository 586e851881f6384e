"""The command line runs end to end (figures are printed, never asserted: timings are not tests)."""

import json
import subprocess
import sys

import numpy as np

from nonlin import bench, check


def test_check_passes_on_small_data():
    rows = check.run(n=20_000, repeat=1)
    assert len(rows) == 2 * (21 + 18 * 3 + 1)  # the first seven, then torch.nn.functional's elementwise ones
    assert all(r["ok"] for r in rows), [r for r in rows if not r["ok"]]


def test_ulp_errors_counts_ulps():
    ref = np.array([1.0, 1.0, np.nan, np.inf, 0.0])
    got = np.array([1.0, np.nextafter(np.float32(1), np.float32(2)), np.nan, np.inf, 1e-45], dtype=np.float32)
    err = check.ulp_errors(got, ref, np.float32)
    assert list(err[:4]) == [0.0, 1.0, 0.0, 0.0]
    assert err[4] == 1.0  # one subnormal step


def test_bench_rows_have_every_side(tmp_path):
    rows = bench.run([1000], dtypes=("float32",), names=["sigmoid", "prelu_backward"], budget=0.001,
                     progress=lambda line: None)
    assert [r["function"] for r in rows] == ["sigmoid", "prelu_backward"]
    for r in rows:
        assert r["nonlin"] > 0 and r["nonlin_out"] > 0 and r["floor"] > 0 and r["numpy"] > 0


def test_cli_bench_quick_writes_json(tmp_path):
    path = tmp_path / "bench.json"
    out = subprocess.run([sys.executable, "-m", "nonlin", "bench", "--quick", "--only", "relu", "--json", str(path)],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads(path.read_text())
    assert {r["dtype"] for r in data["rows"]} == {"float32", "float64"}
    assert "geometric mean" in out.stdout
    assert {(c["function"], c["dtype"]) for c in data["calls"]} == {
        (f, d) for f in ("numpy.tanh", "relu") for d in ("float32", "float64")}
    assert all(c["new"] > 0 and c["out"] > 0 for c in data["calls"])


def test_compare_shows_the_saved_output_derivative_losing_the_tail():
    rows = {(r["function"], r["dtype"]): r for r in check.compare(n=20_000)}
    for dtype in ("float32", "float64"):
        ours = rows[("sigmoid_derivative", dtype)]
        assert ours["nonlin"] <= 4
        # y (1 - y) from the saved output is 0 or garbage once y rounds to 1: the lecture's
        # vanishing gradient, made worse by rounding.
        assert ours["numpy"] > 1e3
        assert rows[("tanh_derivative", dtype)]["numpy"] > 1e3


def test_bench_timing_order():
    log = []
    sides = {"a": lambda: log.append("a"), "none": None, "b": lambda: log.append("b")}
    t = bench._timed_ns(sides, 1, budget=1e-12)
    assert set(t) == {"a", "b"} and t["a"] > 0 and t["b"] > 0
    # a warm-up and a trial call each, then each side's seven rounds of one call (the budget is
    # tiny) in a row, after an untimed call
    assert log == ["a", "a", "b", "b"] + ["a"] * 8 + ["b"] * 8
    log.clear()
    bench._timed_ns(sides, 1, budget=1e-12, turns=True)
    assert log == ["a", "a", "b", "b"] + ["a", "b"] * 7


def test_cli_rejects_bad_arguments(tmp_path):
    for args, words in [
        (["check", "--n", "10"], "at least 1000"),
        (["check", "--n", "-5"], "at least 1000"),
        (["check", "--only", "sigmoid"], "--only needs --f64"),
        (["check", "--f64", "--only", "sigmoid", "nosuch"], "unknown function(s) nosuch"),
        (["bench", "--quick", "--only", "nosuch"], "unknown function(s) nosuch"),
    ]:
        out = subprocess.run([sys.executable, "-m", "nonlin", *args], capture_output=True, text=True, timeout=60,
                             cwd=tmp_path)
        assert out.returncode == 2 and words in out.stderr and "Traceback" not in out.stderr, (args, out.stderr)
    assert set(check.precise_names()) >= {"sigmoid", "gelu_backward"}
    assert {"softmax:10", "glu_backward:row", "gelu:tanh"} <= set(bench.known_names())
