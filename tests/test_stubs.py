"""The stub `_core.pyi` against the built module (mypy.stubtest), `mypy --strict` on
tests/typing_example.py, and `mypy` with the repository's configuration (strict; see
pyproject.toml [tool.mypy]) over the whole installed package. Skipped when mypy is not installed."""

import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("mypy")
pytestmark = pytest.mark.skipif(bool(os.environ.get("NONLIN_SIMD")), reason="the stub does not depend on the SIMD level")
HERE = pathlib.Path(__file__).resolve().parent
CONFIG = HERE.parent / "pyproject.toml"


def run(*args, tmp):
    r = subprocess.run([sys.executable, "-m", *args],
                       capture_output=True, text=True, timeout=600, cwd=tmp)
    return r.returncode, r.stdout + r.stderr


def test_stubtest(tmp_path):
    code, output = run("mypy.stubtest", "nonlin._core", "--allowlist", str(HERE / "stubtest_allowlist.txt"),
                       tmp=tmp_path)
    assert code == 0, output


def test_stubtest_package(tmp_path):
    """Every module's annotations against the runtime objects. nonlin.dask makes its functions at
    import time from nonlin's signatures (no static definitions: --ignore-missing-stub); the
    adapters of optional dependencies that are not installed are left out."""
    allow = tmp_path / "allowlist.txt"
    lines = (HERE / "stubtest_allowlist.txt").read_text().splitlines()
    lines += [f"nonlin.{m}" for m in ("torch", "dask") if importlib.util.find_spec(m) is None]
    # With PyTorch installed: functional's prelu and rrelu are defined at module level, then
    # deleted (they live on in nonlin.torch.functional); @staticmethod over @once_differentiable
    # reads to mypy as a plain function.
    lines += ["nonlin.torch.prelu", "nonlin.torch.rrelu", "nonlin.torch.PReLUFunction.backward",
              "nonlin.torch.RReLUFunction.backward"]
    allow.write_text("\n".join(lines) + "\n")
    code, output = run("mypy.stubtest", "nonlin", "--mypy-config-file", str(CONFIG), "--ignore-missing-stub",
                       "--ignore-disjoint-bases", "--ignore-unused-allowlist", "--allowlist", str(allow),
                       tmp=tmp_path)
    assert code == 0, output


def test_mypy_strict_on_example(tmp_path):
    code, output = run("mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), str(HERE / "typing_example.py"),
                       tmp=tmp_path)
    assert code == 0, output


def test_mypy_strict_on_package(tmp_path):
    """Every module of the installed package (the one `import nonlin` finds from tmp_path)."""
    code, output = run("mypy", "--config-file", str(CONFIG), "--cache-dir", str(tmp_path / "cache"),
                       "-p", "nonlin", tmp=tmp_path)
    assert code == 0, output
