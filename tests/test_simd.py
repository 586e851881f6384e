"""Every SIMD level this CPU runs gives bit-identical results (every level uses fused
multiply-add and IEEE operations only, and sums in the same order)."""

import platform

import numpy as np
import pytest

import nonlin
from nonlin import _core
from conftest import CASE_IDS, CASES, assert_same_bits, make_values

LEVELS = _core._simd_levels()


@pytest.fixture
def restore_level():
    before = nonlin.info()["simd"]
    yield
    _core._set_simd(before)


def test_levels_detected():
    assert LEVELS[0] == "scalar"
    assert nonlin.info()["simd"] in LEVELS


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_levels_bitwise_equal(case, dtype, restore_level):
    if len(LEVELS) < 2:
        pytest.skip("this CPU runs only the scalar level")
    rng = np.random.default_rng(7)
    # 3-d with an odd inner length: vector bodies, tails and (for prelu) several channels.
    x = make_values("mixed", dtype, 6 * 4 * 37, rng).reshape(6, 4, 37)
    g = make_values("uniform", dtype, x.size, rng).reshape(x.shape)
    data, params = case.build(x, g)
    results = {}
    for level in LEVELS:
        assert _core._set_simd(level) == level
        with np.errstate(all="ignore"):
            results[level] = case.call(nonlin, data, params)
    for level in LEVELS[1:]:
        assert_same_bits(results[level], results[LEVELS[0]])


@pytest.mark.parametrize("var, value, ignored", [
    ("NONLIN_SIMD", "avx3", True), ("NONLIN_SIMD", "AVX2", True), ("NONLIN_SIMD", " scalar ", False),
    ("NONLIN_SIMD", "avx2" if platform.machine().lower() in ("aarch64", "arm64") else "neon", True),  # another arch's
    ("NONLIN_NUM_THREADS", "two", True), ("NONLIN_NUM_THREADS", "-1", True), ("NONLIN_NUM_THREADS", "0", True),
    ("NONLIN_NUM_THREADS", "3", False),
    ("NONLIN_BUFFER_CACHE_MB", "1.5", True), ("NONLIN_BUFFER_CACHE_MB", "0", False),
])
def test_unreadable_environment_setting_warns_at_import(var, value, ignored):
    import os
    import subprocess
    import sys

    env = {**os.environ, var: value}
    code = "import nonlin; print(nonlin.info())"
    run = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", code], env=env,
                         capture_output=True, text=True, timeout=120)
    assert (run.returncode != 0) == ignored, run.stderr
    if ignored:
        assert var in run.stderr and "ignored" in run.stderr


def test_threads_that_cannot_start_warn_at_import():
    import os
    import subprocess
    import sys

    # Thread stacks larger than the address space: no worker can start, so the pool has one
    # thread, and import says why NONLIN_NUM_THREADS is ignored.
    env = {**os.environ, "NONLIN_NUM_THREADS": "2", "RUST_MIN_STACK": str(1 << 50)}
    code = "import nonlin; print(nonlin.info()['threads'])"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "NONLIN_NUM_THREADS='2' is not a number of threads that can start (" in run.stderr, run.stderr
    assert run.stdout.split() == ["1"], run.stdout
