"""The comparison benchmark runs end to end at smoke size and writes its tables (issue 7)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_compare_smoke(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "compare.py"), "--smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    table = (tmp_path / "compare_smoke.md").read_text()
    data = json.loads((tmp_path / "compare_smoke.json").read_text())
    for name in ("spex", "proxyspex", "pairwise", "lasso-fourier", "shapley", "banzhaf", "attribution"):
        assert f"| {name} |" in table
    assert "unavailable" not in table
    atp = [r for r in data["rows"] if r["algorithm"] == "attribution"]
    assert {r["status"] for r in atp if r["game"] in ("induction", "planted")} == {"ok"}
    assert all(r["evaluations"] == 1 for r in atp if r["status"] == "ok")  # one forward pass
    assert {r["status"] for r in atp if r["game"] not in ("induction", "planted")} == {"skipped"}
    assert data
