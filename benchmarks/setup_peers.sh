#!/usr/bin/env bash
# Create the Python 3.12 environment that runs the peer SPEX implementations for
# benchmarks/spex_benchmark.py: shapiq 1.8.0 (needs Python >= 3.12) and sparse-transform 0.2.1.
#
# spex_mech itself is NOT installed here: the project's CPU torch wheel exists for Python 3.11 only,
# and a 3.12 torch install would pull a multi-GB CUDA build. The benchmark driver runs in the
# project's 3.11 venv and talks to benchmarks/_shapiq_spex_worker.py (run with this venv) through
# .npz/.json files.
#
# Usage: bash benchmarks/setup_peers.sh [python3.12 executable]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY312="${1:-${PYTHON312:-$HOME/.pyenv/versions/3.12.1/bin/python}}"
VENV="$HERE/.venv312"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY312" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "shapiq==1.8.0" "sparse-transform==0.2.1" galois numpy
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
for name in ("shapiq", "sparse-transform", "galois", "numpy"):
    print(f"{name}=={md.version(name)}")
PY
