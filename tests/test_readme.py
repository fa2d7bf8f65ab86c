"""The README's quick start runs as written and prints what its comments claim."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_quick_start_runs_and_finds_the_induction_interaction():
    code = python_blocks()[0]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README) + ":quick-start", "exec"), {"__name__": "__readme__"})
    printed = out.getvalue().splitlines()
    claimed = re.search(r"# (L\dH\d × L\dH\d): \+([\d.]+)", code)
    assert claimed, "the quick start should show its expected top term in a comment"
    label, value = printed[0].split(": ")
    assert label == claimed.group(1)
    assert abs(float(value) - float(claimed.group(2))) < 0.01
    assert float(printed[5]) > 0.99  # the faithfulness line after the five top terms
    assert any(line.startswith("circuit:") for line in printed)
