"""Threads and processes: a 2-second run of tools/hammer.py, nonlin inside concurrent.futures
threads and inside multiprocessing with fork: no deadlock, no wrong result, and no more worker
threads than configured (nonlin's workers are the threads named "nonlin-*")."""

import concurrent.futures
import importlib.util
import multiprocessing
import os
import pathlib
import threading
import time

import numpy as np
import pytest

import nonlin

ROOT = pathlib.Path(__file__).resolve().parents[1]
TASKS = pathlib.Path("/proc/self/task")


def load_tool(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def nonlin_workers():
    """Number of live nonlin worker threads in this process (Linux), or None."""
    if not TASKS.is_dir():
        return None
    n = 0
    for t in TASKS.iterdir():
        try:
            n += (t / "comm").read_text().startswith("nonlin-")
        except OSError:  # the thread ended meanwhile
            pass
    return n


def started_workers(timeout=10.0):
    """nonlin_workers() once at least one worker has named itself (a new thread sets its name
    when it first runs, which on a loaded machine can be after the call that spawned it)."""
    end = time.monotonic() + timeout
    while nonlin_workers() < 1 and time.monotonic() < end:
        time.sleep(0.01)
    return nonlin_workers()


@pytest.fixture
def threads_2():
    before = nonlin.info()["threads"]
    nonlin.set_num_threads(2)
    yield 2
    nonlin.set_num_threads(before)


def test_hammer_two_seconds():
    r = load_tool("hammer").hammer(seconds=2.0, n_threads=8)
    assert r["hung"] == 0 and r["errors"] == [], r["errors"][:5]
    assert min(r["per_thread"]) > 0, r["per_thread"]


class Sampler:
    """Samples the number of nonlin workers every millisecond while in use."""

    def __init__(self):
        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, nonlin_workers() or 0)
            time.sleep(0.001)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


@pytest.mark.skipif(not TASKS.is_dir(), reason="counts threads through /proc")
def test_thread_pool_executor_no_deadlock_no_oversubscription(threads_2):
    x = np.linspace(-8, 8, 400_000, dtype=np.float32)  # large: uses the workers
    want = nonlin.sigmoid(x)

    def job(i):
        y = nonlin.sigmoid(x) if i % 2 else nonlin.softmax(x.reshape(400, 1000), axis=-1)
        return i, y

    with Sampler() as s:
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
            futures = [ex.submit(job, i) for i in range(200)]
            done, pending = concurrent.futures.wait(futures, timeout=120)
    assert not pending, "calls hung"
    soft = nonlin.softmax(x.reshape(400, 1000), axis=-1)
    for f in done:
        i, y = f.result()
        np.testing.assert_array_equal(y, want if i % 2 else soft)
    # one pool for every caller: threads - 1 workers (the caller is the other)
    assert 1 <= s.peak <= 2 - 1, f"{s.peak} nonlin workers with set_num_threads(2)"


def _child(n):
    x = np.linspace(-5, 5, n)
    y = nonlin.sigmoid(x)
    return float(y.sum()), nonlin.info()["threads"], nonlin_workers()


@pytest.mark.skipif(not hasattr(os, "fork") or not TASKS.is_dir(), reason="needs fork() and /proc")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
# another library already imported in this process (JAX, through the bench tests) may warn at fork
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_multiprocessing_fork_pool(threads_2):
    n = 1_000_000
    want = float(nonlin.sigmoid(np.linspace(-5, 5, n)).sum())  # the parent's workers run now
    assert started_workers() >= 1
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(3) as pool:
        res = pool.map_async(_child, [n] * 6)
        results = res.get(timeout=120)  # raises TimeoutError if a child hangs
    for total, threads, workers in results:
        assert total == want
        assert workers == 0, f"a forked child started {workers} workers"  # runs serially
    assert nonlin_workers() <= 1  # the parent is unchanged


def _child_sets_threads(n):
    # a multiprocessing initializer's usual step against oversubscription, then a call
    nonlin.set_num_threads(1)
    one = float(nonlin.sigmoid(np.linspace(-5, 5, n)).sum())
    nonlin.set_num_threads(2)  # a new pool, whose worker exists in this process
    return one, float(nonlin.sigmoid(np.linspace(-5, 5, n)).sum()), nonlin.info()["threads"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_set_num_threads_in_a_forked_child(threads_2):
    # the parent's pool (with a worker) is inherited: replacing it must not join that worker,
    # which does not exist in the child (it raised PanicException)
    n = 1_000_000
    want = float(nonlin.sigmoid(np.linspace(-5, 5, n)).sum())
    assert started_workers() >= 1
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        results = pool.map_async(_child_sets_threads, [n] * 4).get(timeout=120)
    assert results == [(want, want, 2)] * 4
