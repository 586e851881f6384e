"""Peak memory of a call on contiguous inputs: the output and nothing the size of the input
besides. NumPy reports its allocations to tracemalloc; nonlin's large outputs come from its own
buffer cache, so any traced allocation near the input's size during a call is a temporary."""

import tracemalloc

import numpy as np
import pytest

import nonlin
from conftest import CASE_IDS, CASES

N = 1 << 20  # 4 MiB of float32 per operand


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_no_temporary_the_size_of_the_input(case):
    rng = np.random.default_rng(5)
    x = rng.uniform(-5, 5, (256, 12, N // (256 * 12) + 1)).astype(np.float32)
    g = rng.uniform(-1, 1, x.shape).astype(np.float32)
    data, params = case.build(x, g)
    data = tuple(np.ascontiguousarray(d) for d in data)
    case.call(nonlin, data, params)  # warm up (the buffer cache, lazy imports)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = case.call(nonlin, data, params)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result is not None
    assert peak < x.nbytes // 8, f"{peak} bytes traced during the call (input: {x.nbytes})"
