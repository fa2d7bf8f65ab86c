"""The style checks of the test suite: `ruff check` over the whole tree and numpydoc over the package.

Both read their rule sets from pyproject.toml (`[tool.ruff]`, `[tool.numpydoc_validation]`), so the suite and
a developer's shell run the same checks.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_check_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed (it is part of the test extra: pip install -e '.[test]')")
    done = subprocess.run([ruff, "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_numpydoc_validation_is_clean():
    try:
        import numpydoc  # noqa: F401
    except ImportError:
        pytest.fail("numpydoc is not installed (it is part of the test extra: pip install -e '.[test]')")
    files = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "spex_mech").rglob("*.py"))
    assert len(files) > 50, files  # the package, not an empty glob
    done = subprocess.run(
        [sys.executable, "-m", "numpydoc", "lint", *files], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-6000:]


@pytest.mark.parametrize(
    "module",
    [
        "spex_mech.validation",
        "spex_mech.results.terms",
        "spex_mech.results.interactions",
        "spex_mech.algorithms.spex.api",
        "spex_mech.algorithms.exhaustive",
        "spex_mech.synthetic",
    ],
)
def test_docstring_examples_run(module):
    import doctest
    import importlib

    mod = importlib.import_module(module)
    failed, attempted = doctest.testmod(mod, optionflags=doctest.ELLIPSIS, verbose=False)
    assert attempted > 0, f"{module} has no examples to run"
    assert failed == 0, f"{failed} of {attempted} examples in {module}'s docstrings failed"
