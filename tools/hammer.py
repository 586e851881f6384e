"""Hammer every nonlin function from 8 Python threads on shared inputs and check every result.

    python tools/hammer.py [--seconds 30] [--threads 8] [--resize]

Each thread loops over random (function, dtype, size, out=) picks: small inputs (run on the
calling thread), large ones (split over nonlin's workers; a call that finds them busy runs
serially) and strided ones, without and with out=. Every result must have the bits of the
result computed beforehand by one thread alone; the shared inputs must never change. With
--resize the main thread also changes nonlin's thread count (1..3) all the while.
Exits non-zero on any mismatch, exception or hung thread; prints the number of calls."""

import argparse
import pathlib
import random
import sys
import threading
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))

import nonlin  # noqa: E402
from conftest import CASES, assert_same_bits, make_values  # noqa: E402

SHAPES = {"small": (3, 5, 7), "large": (16, 32, 80), "strided": (12, 20, 48)}  # large: > MIN_PARALLEL


def main_result(r):
    return r[0] if isinstance(r, tuple) else r


def prepare(seed=0):
    """(case, dtype, shape kind, data, params, expected) for every case, dtype and shape."""
    rng = np.random.default_rng(seed)
    jobs = []
    for case in CASES:
        for dtype in (np.float32, np.float64):
            for kind, shape in SHAPES.items():
                n = int(np.prod(shape))
                x, g = (make_values("mixed", dtype, n, rng).reshape(shape) for _ in "xg")
                if kind == "strided":  # reversed and every other row; Fortran order
                    x, g = x[::-1, ::2], np.asfortranarray(g[:, ::2])
                with np.errstate(all="ignore"):
                    data, params = case.build(x, g)
                    expected = case.call(nonlin, tuple(np.copy(d) for d in data), params)
                for d in data:
                    d.flags.writeable = False  # shared: nobody may write them
                jobs.append((case, dtype, kind, data, params, expected))
    return jobs


def hammer(seconds=30.0, n_threads=8, resize=False, seed=0):
    """Runs the hammer; returns {"calls": ..., "errors": [...], "hung": ..., "seconds": ...}."""
    jobs = prepare(seed)
    snapshots = [[np.copy(d) for d in job[3]] for job in jobs]
    before = nonlin.info()["threads"]
    stop = threading.Event()
    calls = [0] * n_threads
    errors = []
    barrier = threading.Barrier(n_threads + 1)

    def work(i):
        rnd = random.Random(seed * 1000 + i)
        barrier.wait()
        while not stop.is_set() and not errors:
            case, dtype, kind, data, params, expected = jobs[rnd.randrange(len(jobs))]
            try:
                with np.errstate(all="ignore"):
                    if rnd.random() < 0.5:
                        got = case.call(nonlin, data, params)
                    else:
                        out = np.empty_like(main_result(expected))
                        got = case.call(nonlin, data, params, out=out)
                        assert main_result(got) is out
                assert_same_bits(got, expected)
            except BaseException as e:  # reported by the main thread
                errors.append(f"thread {i}: {case.id} {np.dtype(dtype)} {kind}: {e!r}")
            calls[i] += 1

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(n_threads)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    k = 0
    while time.perf_counter() - start < seconds and not errors:
        time.sleep(0.05)
        if resize:
            k += 1
            nonlin.set_num_threads(1 + k % 3)
    stop.set()
    for t in threads:
        t.join(60)
    elapsed = time.perf_counter() - start
    nonlin.set_num_threads(before)
    hung = sum(t.is_alive() for t in threads)
    for job, snap in zip(jobs, snapshots):
        for d, s in zip(job[3], snap):
            try:
                assert_same_bits(d, s)
            except AssertionError as e:
                errors.append(f"shared input of {job[0].id} changed: {e}")
    return {"calls": sum(calls), "per_thread": calls, "errors": errors, "hung": hung, "seconds": elapsed,
            "functions": len({c.name for c in CASES})}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--resize", action="store_true", help="change nonlin's thread count meanwhile")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    r = hammer(a.seconds, a.threads, a.resize, a.seed)
    print(f"nonlin {nonlin.info()}: {a.threads} threads, {r['seconds']:.1f} s, {r['functions']} functions,"
          f" {r['calls']} calls checked ({r['calls'] / r['seconds']:.0f}/s), per thread {r['per_thread']},"
          f" {len(r['errors'])} errors, {r['hung']} hung")
    for e in r["errors"][:20]:
        print("ERROR", e)
    sys.exit(1 if r["errors"] or r["hung"] else 0)


if __name__ == "__main__":
    main()
