"""The stub `_core.pyi` against the built module (mypy.stubtest), and `mypy --strict` on
tests/typing_example.py. Skipped when mypy is not installed."""

import os
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("mypy")
pytestmark = pytest.mark.skipif(bool(os.environ.get("NONLIN_SIMD")), reason="the stub does not depend on the SIMD level")
HERE = pathlib.Path(__file__).resolve().parent


def run(*args, tmp):
    r = subprocess.run([sys.executable, "-m", *args],
                       capture_output=True, text=True, timeout=600, cwd=tmp)
    return r.returncode, r.stdout + r.stderr


def test_stubtest(tmp_path):
    code, output = run("mypy.stubtest", "nonlin._core", "--allowlist", str(HERE / "stubtest_allowlist.txt"),
                       tmp=tmp_path)
    assert code == 0, output


def test_mypy_strict_on_example(tmp_path):
    code, output = run("mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), str(HERE / "typing_example.py"),
                       tmp=tmp_path)
    assert code == 0, output
