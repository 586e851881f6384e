"""Memory leaks: RSS stays flat over many calls of every function, and no reference is leaked.

    python tools/leaks.py [--calls 1000000] [--max-seconds S] [--slack-mb 4] [--only NAME]

For each function (every case of tests/conftest.py), small float32 and float64 operands, in
turn: plain calls, calls with out=, and calls that fail in the middle (an unsupported dtype on
the last operand, a wrong out= shape, a read-only out=), each `--calls` times after a warm-up.
Reports RSS before and after each function and the growth; the reference counts of every
operand, out= array and parameter must be unchanged. Exits non-zero if RSS grew by more than
--slack-mb in total over the measured loops (after each warm-up), or a reference count changed.
With --max-seconds, the calls per mode are cut (evenly over the functions still to run, from the
time per call measured so far) so that the whole run fits in about that time; the report gives
the calls actually made."""

import argparse
import gc
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))

import nonlin  # noqa: E402
from conftest import CASES, make_values  # noqa: E402


def rss():
    """Resident set size in bytes (Linux /proc; psutil elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            import os
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import psutil
        return psutil.Process().memory_info().rss


def modes(case, dtype, seed=0):
    """[(label, callable, objects whose reference counts must not change)]."""
    rng = np.random.default_rng(seed)
    x, g = (make_values("mixed", dtype, 2 * 3 * 8, rng).reshape(2, 3, 8) for _ in "xg")
    with np.errstate(all="ignore"):
        data, params = case.build(x, g)
        result = case.call(nonlin, data, params)
    main = result[0] if isinstance(result, tuple) else result
    out = np.empty_like(main)
    with np.errstate(all="ignore"):
        bad_dtype = data[:-1] + (data[-1].astype(np.complex64),)
    wrong_shape = np.empty(main.shape + (2,), main.dtype)
    read_only = np.empty_like(main)
    read_only.flags.writeable = False
    watched = [*data, *bad_dtype, out, wrong_shape, read_only, *[v for v in params.values() if isinstance(v, np.ndarray)]]

    def call(ops, **kw):
        return lambda: case.call(nonlin, ops, params, **kw)

    return [
        ("plain", call(data), watched),
        ("out=", call(data, out=out), watched),
        ("bad dtype", call(bad_dtype), watched),
        ("bad out shape", call(data, out=wrong_shape), watched),
        ("read-only out", call(data, out=read_only), watched),
    ]


def run(case, calls, dtype, measure_rss=True):
    """Runs every mode `calls` times after a warm-up; returns (RSS growth in bytes over the
    measured loops, [reference-count changes])."""
    problems = []

    def once(label, fn):
        try:
            fn()
        except (TypeError, ValueError):
            if label in ("plain", "out="):
                raise
        else:
            assert label in ("plain", "out="), f"{case.id} {label}: no error"

    todo = modes(case, dtype)
    with np.errstate(all="ignore"):
        for label, fn, _ in todo:  # warm-up: caches, free lists, lazy imports
            for _ in range(min(calls, 1000)):
                once(label, fn)
        if measure_rss:
            gc.collect()
        before = rss()
        for label, fn, watched in todo:
            refs = [sys.getrefcount(o) for o in watched]
            for _ in range(calls):
                once(label, fn)
            after = [sys.getrefcount(o) for o in watched]
            if after != refs:
                problems.append(f"{case.id} {label} {np.dtype(dtype)}: reference counts {refs} -> {after}")
        if measure_rss:
            gc.collect()
        growth = rss() - before
    return growth, problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=float, default=1e6, help="calls per function, mode and dtype")
    ap.add_argument("--slack-mb", type=float, default=4.0)
    ap.add_argument("--only", default=None, help="comma-separated function names")
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--max-seconds", type=float, default=None, help="cut --calls to fit the run in about this time")
    a = ap.parse_args()
    calls = int(a.calls)
    only = set(a.only.split(",")) if a.only else None
    cases = [c for c in CASES if only is None or c.name in only]
    gc.collect()
    start_rss, t0, problems, n, measured = rss(), time.perf_counter(), [], 0, 0
    print(f"nonlin {nonlin.info()}; {len(cases)} cases x 5 modes x {a.dtypes} x {calls} calls; RSS {start_rss / 2**20:.1f} MiB")
    dtypes = a.dtypes.split(",")
    todo = len(cases) * len(dtypes)
    per_call = None  # seconds per call so far, for --max-seconds
    fewest = calls
    for case in cases:
        for dt in dtypes:
            k = calls
            if a.max_seconds is not None and per_call is not None:
                left = a.max_seconds - (time.perf_counter() - t0)
                k = max(1000, min(calls, int(left / todo / (5 * per_call)) - 1000))
            fewest = min(fewest, k)
            before, t1 = rss(), time.perf_counter()
            growth, p = run(case, k, np.dtype(dt))
            problems += p
            measured += growth
            n += 5 * (k + min(k, 1000))
            per_call = (time.perf_counter() - t1) / (5 * (k + min(k, 1000)))
            todo -= 1
            print(f"{case.id:28s} {dt}: {k} calls per mode, RSS {before / 2**20:8.1f} -> {rss() / 2**20:8.1f} MiB"
                  f" (measured loops +{growth / 2**10:.0f} KiB){' REFCOUNT' if p else ''}", flush=True)
    end_rss = rss()
    grew = measured / 2**20
    print(f"{n} calls ({fewest} to {calls} per function, mode and dtype, plus warm-up) in"
          f" {time.perf_counter() - t0:.0f} s; RSS {start_rss / 2**20:.1f} -> {end_rss / 2**20:.1f} MiB"
          f" overall; growth over the measured loops (after warm-up) {grew:+.2f} MiB (slack {a.slack_mb} MiB);"
          f" {len(problems)} reference-count changes")
    for p in problems[:20]:
        print("REFCOUNT", p)
    sys.exit(1 if problems or grew > a.slack_mb else 0)


if __name__ == "__main__":
    main()
