"""TransformerLens 2.x for real: the engine on a ``HookedTransformer``, exact against per-mask hooks.

transformer-lens 2.x and 4.x cannot share an environment, so the check (``tests/tl2_check.py``) runs
by subprocess in its own venv, ``.cache/tl2-venv`` (gitignored), built here on first use and reused
while its requirement list is unchanged. The repository is put on ``PYTHONPATH``: the code under test
is this checkout's ``spex_mech``.

Pins: ``transformer-lens>=2,<3``; TL 2.x needs ``numpy<2`` (Python < 3.13), and ``datasets`` (which TL 2.x
imports) pulls the newest ``pyarrow``: 26 refuses to import with NumPy 1.26, 21 works, hence ``pyarrow<22``
(resolved here: transformer-lens 2.18.0, transformers 4.57.6, numpy 1.26.4, pyarrow 21.0.0). torch is pinned to
the version running the tests (no second download).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".cache" / "tl2-venv"
STAMP = VENV / "spex_mech_requirements.txt"
CHECK = Path(__file__).with_name("tl2_check.py")
TL2_PINS = ["transformer-lens>=2,<3", "pyarrow<22"]


def _requirements() -> list[str]:
    """torch as installed here, TransformerLens 2.x pins, and spex_mech's other runtime dependencies."""
    import torch

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    own = [d for d in deps if not d.replace(" ", "").startswith(("torch>", "torch=", "torch<", "transformer-lens"))]
    return [f"torch=={torch.__version__.split('+')[0]}", *TL2_PINS, *own]


def _run(cmd: list[str], timeout: float) -> None:
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        pytest.fail(f"building the TL 2.x venv failed: {' '.join(cmd[:4])} … exited {proc.returncode}\n{tail}")


def tl2_python() -> Path:
    """The venv's interpreter, building or rebuilding the venv when its requirements changed."""
    reqs = _requirements()
    stamp = "\n".join(reqs) + "\n"
    VENV.parent.mkdir(parents=True, exist_ok=True)
    python = VENV / "bin" / "python"
    with open(VENV.parent / "tl2-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test processes never build it at once
        if python.exists() and STAMP.exists() and STAMP.read_text() == stamp:
            return python
        start = time.perf_counter()
        _run([sys.executable, "-m", "venv", "--clear", str(VENV)], timeout=300)
        _run([str(python), "-m", "pip", "install", "-q", *reqs], timeout=1800)
        STAMP.write_text(stamp)
        print(f"built {VENV} in {time.perf_counter() - start:.0f} s")
    return python


@pytest.mark.slow
def test_engine_on_a_transformer_lens_2_hooked_transformer_matches_per_mask_hooks():
    python = tl2_python()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run(
        [str(python), str(CHECK)], check=False, capture_output=True, text=True, timeout=600, env=env, cwd=ROOT
    )
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    assert lines, f"the TL 2.x check printed no summary (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    summary = json.loads(lines[-1])
    assert summary["failures"] == [], "\n".join(summary["failures"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    # it really ran TL 2.x's HookedTransformer on this checkout's spex_mech
    assert summary["transformer_lens"].startswith("2."), summary["transformer_lens"]
    assert summary["model_class"] == "transformer_lens.HookedTransformer.HookedTransformer"
    assert Path(summary["spex_mech_file"]).resolve() == ROOT / "spex_mech" / "__init__.py"
    cases = {c["case"]: c for c in summary["cases"]}
    expected = {f"components/{a}" for a in ("zero", "mean", "mean_tokenwise", "resample")} | {
        "tokens+heads/mean",
        "ragged/zero",
        "ragged/mean",
        "layers/zero",
        "layers/mean",
    }
    assert set(cases) == expected
    for case in cases.values():
        assert case["n_masks"] >= 10 and case["spread"] > 0.1, case  # the masks move the value: not a vacuous match
    # the fast paths were verified on this model and used
    assert all(p == {"share_prefix": True, "restrict_unembed": True} for p in summary["plans"].values()), summary[
        "plans"
    ]
