"""Results are bit-identical for any thread count; a forked child does not hang."""

import multiprocessing
import os
import subprocess
import sys

import numpy as np
import pytest

import nonlin
from conftest import CASE_IDS, CASES, assert_same_bits, make_values


@pytest.fixture
def restore_threads():
    before = nonlin.info()["threads"]
    yield
    nonlin.set_num_threads(before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_thread_counts_bitwise_equal(case, dtype, restore_threads):
    rng = np.random.default_rng(3)
    # Large enough to be split into many tasks (prelu: 12 channels on axis 1).
    x = make_values("mixed", dtype, 160 * 12 * 600, rng).reshape(160, 12, 600)
    g = make_values("uniform", dtype, x.size, rng).reshape(x.shape)
    data, params = case.build(x, g)
    results = []
    for threads in (1, 2, 3):
        nonlin.set_num_threads(threads)
        assert nonlin.info()["threads"] == threads
        with np.errstate(all="ignore"):
            results.append(case.call(nonlin, data, params))
    for r in results[1:]:
        assert_same_bits(r, results[0])


def test_concurrent_callers_while_the_pool_changes(restore_threads):
    """Python threads share the worker pool (a call that finds it busy runs serially) while the
    pool is replaced under them: every result stays right and nothing deadlocks."""
    import threading

    rng = np.random.default_rng(11)
    xs = [rng.uniform(-6, 6, n).astype(np.float32) for n in (20_000, 70_000, 300_000)]
    want = [nonlin.reference.sigmoid(x) for x in xs]
    errors = []

    def caller():
        try:
            for i in range(60):
                k = i % len(xs)
                got = nonlin.sigmoid(xs[k])
                if not np.allclose(got, want[k], rtol=1e-6, atol=0):
                    errors.append(k)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=caller) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(20):
        nonlin.set_num_threads(1 + i % 3)
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a caller hung"
    assert errors == []


def test_set_num_threads_rejects_zero():
    with pytest.raises(ValueError):
        nonlin.set_num_threads(0)


def test_set_num_threads_that_cannot_start_is_runtime_error():
    # In a child whose address space is capped, most of 100000 threads cannot be started: a
    # RuntimeError, the threads in use stay, and the ones started are stopped again.
    code = """
import resource, numpy as np, nonlin
nonlin.set_num_threads(2)
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
try:
    nonlin.set_num_threads(100000)
except RuntimeError as e:
    assert "cannot start 100000 threads" in str(e), e
else:
    raise SystemExit("no error")
assert nonlin.info()["threads"] == 2, nonlin.info()
threads = int([l for l in open("/proc/self/status") if l.startswith("Threads:")][0].split()[1])
assert threads < 10, threads
nonlin.set_num_threads(3)
x = np.linspace(-5, 5, 1_000_000)
assert abs(nonlin.sigmoid(x).sum() - 500000) < 1e-6  # symmetric: sigmoid(x) + sigmoid(-x) = 1
print("ok")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr


def _child(q):
    x = np.linspace(-5, 5, 1_000_000)
    q.put(float(nonlin.sigmoid(x).sum()))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # JAX, if a bench test imported it
def test_forked_child_does_not_hang(restore_threads):
    nonlin.set_num_threads(2)
    x = np.linspace(-5, 5, 1_000_000)
    expected = float(nonlin.sigmoid(x).sum())  # the parent's workers are running now
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q,))
    p.start()
    p.join(60)
    alive = p.is_alive()
    if alive:
        p.kill()
    assert not alive, "child hung"
    assert p.exitcode == 0
    assert q.get(timeout=5) == expected
