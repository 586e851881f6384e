#!/usr/bin/env bash
# Packaging check: `maturin build --release` makes a wheel that installs and imports in a fresh
# virtual environment with no Rust toolchain on PATH (and a scrubbed environment), and
# `maturin sdist` builds a source distribution that contains the crate and the Python package.
# Usage: tools/check_packaging.sh [python3]   (maturin from PATH, or from $MATURIN)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
py=${1:-python3}
maturin=${MATURIN:-$(command -v maturin)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== maturin build --release"
"$maturin" build --release --interpreter "$py" --out "$work/dist" 2>&1 | tail -n 3
wheel=$(ls "$work"/dist/nonlin-*.whl)
echo "wheel: $(basename "$wheel")"

echo "== fresh venv, no Rust on PATH, empty environment"
# The venv is made by the system Python; nothing from ~/.cargo or the build's venv is visible.
pybin=$(command -v "$py")
env -i PATH=/usr/bin:/bin HOME="$work" "$pybin" -m venv "$work/venv"
env -i PATH=/usr/bin:/bin HOME="$work" sh -c '! command -v cargo && ! command -v rustc' >/dev/null \
    || { echo "cargo or rustc is on /usr/bin:/bin: not a Rust-free environment"; exit 1; }
# numpy from the index (or from the pip cache); nonlin from the wheel alone
env -i PATH=/usr/bin:/bin HOME="$work" PIP_CACHE_DIR="${PIP_CACHE_DIR:-$HOME/.cache/pip}" \
    "$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel"
(cd "$work" && env -i PATH=/usr/bin:/bin HOME="$work" "$work/venv/bin/python" - <<'PY'
import numpy as np
import nonlin
import nonlin.reference
x = np.linspace(-3, 3, 100_001, dtype=np.float32)
y = nonlin.sigmoid(x)
assert y.dtype == np.float32 and abs(float(y[50_000]) - 0.5) == 0
assert np.allclose(nonlin.softmax(x.reshape(1, -1)).sum(), 1, atol=1e-5)
print("imported", nonlin.__file__, nonlin.info())
PY
)

echo "== maturin sdist"
"$maturin" sdist --out "$work/sdist" 2>&1 | tail -n 2
sdist=$(ls "$work"/sdist/nonlin-*.tar.gz)
echo "sdist: $(basename "$sdist")"
listing=$(tar -tzf "$sdist")  # (not piped into grep -q: tar's SIGPIPE would fail under pipefail)
for f in Cargo.toml Cargo.lock pyproject.toml src/lib.rs src/python.rs python/nonlin/__init__.py \
         python/nonlin/_core.pyi python/nonlin/py.typed; do
    grep -q "/$f\$" <<<"$listing" || { echo "sdist lacks $f"; exit 1; }
done
echo "packaging OK"
