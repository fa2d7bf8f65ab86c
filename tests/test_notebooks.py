"""Every notebook in ``notebooks/`` runs top to bottom in a Jupyter kernel (nbclient), and shows its figures.

Checked per notebook: no cell raises; every code cell that draws (``plots.*(...)``, ``plt.*``,
``.imshow(`` ...) has an image among its outputs (so figures display inline: importing spex_mech must not
switch matplotlib to a non-inline backend), each figure once; no progress-bar fallback warning
(``IProgress not found``: tqdm.auto needs ipywidgets); and no notebook silences warnings wholesale.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
DRAWS = re.compile(r"\bplots\.\w+\(|\bplt\.\w+\(|\.imshow\(|\.subplots\(|\.plot\(")
IMAGE_TYPES = ("image/png", "image/svg+xml", "image/jpeg")
WIDGET = "application/vnd.jupyter.widget-view+json"


def _code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def _python_source(source: str) -> str:
    """Cell source without IPython magics and shell escapes (so it parses as Python)."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


_PARAMS = {"filterwarnings": ("action", "message", "category", "module"), "simplefilter": ("action", "category")}


def wholesale_warning_filters(source: str) -> list[str]:
    """Calls in ``source`` that ignore every warning: an "ignore" filter not narrowed by message, module
    or a category below ``Warning``."""
    found = []
    for node in ast.walk(ast.parse(_python_source(source))):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        if name not in _PARAMS:
            continue
        given = dict(zip(_PARAMS[name], node.args))
        given.update({k.arg: k.value for k in node.keywords if k.arg})
        action = given.get("action")
        if not (isinstance(action, ast.Constant) and action.value == "ignore"):
            continue
        narrowed = [
            key
            for key, value in given.items()
            if key != "action"
            and not (isinstance(value, ast.Constant) and value.value in ("", None))
            and not (key == "category" and ast.unparse(value) in ("Warning", "BaseException", "Exception"))
        ]
        if not narrowed:
            found.append(ast.unparse(node))
    return found


def test_the_warning_filter_check_tells_wholesale_from_narrow():
    assert wholesale_warning_filters('import warnings\nwarnings.filterwarnings("ignore")') == [
        "warnings.filterwarnings('ignore')"
    ]
    assert wholesale_warning_filters("from warnings import simplefilter\nsimplefilter(action='ignore')")
    assert wholesale_warning_filters('%matplotlib inline\nwarnings.simplefilter("ignore")')
    assert not wholesale_warning_filters(
        'warnings.filterwarnings("ignore", category=UserWarning, module="transformer_lens")'
    )
    assert not wholesale_warning_filters('warnings.simplefilter("ignore", DeprecationWarning)')
    assert not wholesale_warning_filters('warnings.filterwarnings("error")')
    assert wholesale_warning_filters('warnings.simplefilter("ignore", category=Warning)')
    assert wholesale_warning_filters('warnings.filterwarnings("ignore", "")')


def test_there_are_notebooks():
    names = {p.name for p in NOTEBOOKS}
    assert {"induction_circuit.ipynb", "your_own_model.ipynb"} <= names, names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_does_not_silence_warnings_wholesale(path):
    import nbformat

    nb = nbformat.read(path, as_version=4)
    bad = [(i, call) for i, cell in enumerate(_code_cells(nb)) for call in wholesale_warning_filters(cell.source)]
    assert not bad, f"{path.name}: code cell(s) silence every warning: {bad}"


def _images(cell) -> int:
    return sum(1 for out in cell.get("outputs", []) if any(t in out.get("data", {}) for t in IMAGE_TYPES))


def _image_data(cell) -> list[str]:
    return [out["data"][t] for out in cell.get("outputs", []) for t in IMAGE_TYPES if t in out.get("data", {})]


def _stderr(cell) -> str:
    return "".join(out.get("text", "") for out in cell.get("outputs", []) if out.get("name") == "stderr")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_shows_its_figures(path, monkeypatch):
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel picks its inline backend itself
    nb = nbformat.read(path, as_version=4)
    # the kernel of this interpreter (ipykernel's native spec), not whatever "python3" a user registered
    km = KernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))
    client = NotebookClient(nb, km=km, timeout=600, resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # a failing cell raises CellExecutionError naming the cell and its traceback

    cells = _code_cells(nb)
    drawing = [i for i, c in enumerate(cells) if DRAWS.search(c.source)]
    missing = [i for i in drawing if _images(cells[i]) == 0]
    assert not missing, f"{path.name}: code cell(s) {missing} draw a figure but show no image output"
    twice = [i for i in drawing if _images(cells[i]) != len(set(_image_data(cells[i])))]
    assert not twice, f"{path.name}: code cell(s) {twice} show the same figure twice (end the line with ';')"
    noisy = [i for i, c in enumerate(cells) if "IProgress not found" in _stderr(c)]
    assert not noisy, f"{path.name}: cell(s) {noisy} fell back from the Jupyter progress bar (ipywidgets missing?)"
    if path.name == "your_own_model.ipynb":
        assert drawing, "the notebook should draw figures"
        kinds = {key for c in cells for out in c.get("outputs", []) for key in out.get("data", {})}
        assert WIDGET in kinds, "progress bars should show as Jupyter widgets (tqdm.auto + ipywidgets)"
        # its ragged-prompt game against single-prompt games, as printed by the notebook itself
        text = "".join(
            out.get("text", "") for c in cells for out in c.get("outputs", []) if out.get("name") == "stdout"
        )
        found = re.search(r"largest difference: (\S+)", text)
        assert found and float(found.group(1)) < 1e-5, found and found.group(0)
