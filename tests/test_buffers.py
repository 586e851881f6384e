"""Large results come from a cache of freed output buffers (their pages already mapped)."""

import numpy as np

import nonlin
from nonlin import _core

N = 1 << 20  # 4 MiB of float32: above the 1 MiB threshold


def test_freed_result_buffer_is_reused_and_results_stay_right():
    _core._buffer_cache(clear=True)
    x = np.linspace(-10, 10, N, dtype=np.float32)
    a = nonlin.sigmoid(x)
    first = a.ctypes.data
    expected = a.copy()
    del a  # the buffer goes back to the cache
    assert _core._buffer_cache()[0] >= x.nbytes
    b = nonlin.sigmoid(x)
    assert b.ctypes.data == first
    np.testing.assert_array_equal(b, expected)
    c = nonlin.sigmoid(x)  # b is alive: c needs another buffer
    assert c.ctypes.data != b.ctypes.data
    np.testing.assert_array_equal(c, expected)


def test_views_keep_the_buffer_alive():
    _core._buffer_cache(clear=True)
    x = np.ones(N, dtype=np.float64)
    view = nonlin.relu(x)[::2]
    assert _core._buffer_cache()[0] == 0  # still in use through the view
    y = nonlin.tanh(x)  # must not get the view's memory
    assert not np.shares_memory(view, y)
    np.testing.assert_array_equal(view, 1.0)


def test_pooled_results_are_ordinary_writeable_arrays():
    x = np.ones((512, 1024), dtype=np.float32, order="F")
    y = nonlin.sigmoid(x)
    assert y.flags.writeable and y.flags.f_contiguous and y.dtype == np.float32
    y[0, 0] = 5.0
    assert y[0, 0] == 5.0
