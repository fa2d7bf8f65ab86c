"""Plots and the HTML report: headless rendering without touching the matplotlib backend."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_importing_plots_and_report_leaves_the_backend_alone(tmp_path):
    code = (
        "import sys, matplotlib\n"
        "before = matplotlib.rcParams._get('backend')\n"
        "import spex_mech.plots, spex_mech.report\n"
        "assert matplotlib.rcParams._get('backend') == before, (before, matplotlib.rcParams._get('backend'))\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
        "import numpy as np\n"
        "from spex_mech.results.interactions import Interactions\n"
        "from spex_mech import plots\n"
        "r = Interactions.from_mobius({(): 1.0, (0,): 0.5, (0, 1): -0.25, (0, 1, 2): 0.1}, "
        "3, labels=['L0H0', 'L0H1', 'L1H0'])\n"
        "fig = plots.interaction_graph(r)\n"
        f"fig.savefig(r'{tmp_path / 'g.png'}')\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported by a plot'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=None)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "g.png").stat().st_size > 1000


def _report_folder(tmp_path):
    from spex_mech.circuits import faithfulness_curves, head_roles, minimal_circuit, ranking, top_k_overlap, unit_scores
    from spex_mech.circuit import extract_circuit
    from spex_mech.report import write_figures, write_report
    from spex_mech.results.interactions import Interactions
    from spex_mech.zoo import induction

    labels = [f"L{l}H{h}" for l in range(2) for h in range(4)]
    ids = [f"blocks.{l}.attn.hook_z[{h}]" for l in range(2) for h in range(4)]
    truth = Interactions.from_mobius(
        {(): -3.0, (0, 6): 1.5, (1, 5): 0.8, (0, 1, 3): -0.3, (2,): 0.1, (3, 7): 0.05},
        8,
        labels=labels,
        ids=ids,
        algorithm="exhaustive",
    )
    curves = faithfulness_curves(
        lambda m: truth.predict(m), {k: ranking(unit_scores(truth, k)) for k in ("mobius", "shapley")}, n=8, warn=False
    )
    minimal = minimal_circuit(truth, lambda m: truth.predict(m), target=0.9, warn=False)
    circuit = extract_circuit(truth, 0.5, f=lambda m: truth.predict(m))
    roles = head_roles(induction.load())
    other = Interactions.from_mobius({(0, 6): 1.4, (1, 5): 0.9, (2,): 0.2}, 8, labels=labels, ids=ids)
    stability = top_k_overlap([truth, other, truth], [0, 1, 2], k=3)
    ctx = {"metric": "log-prob of the next token", "ablation": "mean"}
    figures = write_figures(truth, tmp_path, circuit=minimal, curves=curves, roles=roles, **ctx)
    write_report(tmp_path, truth, title="test report", circuit=circuit, figures=figures, curves=curves, minimal=minimal,
                 roles=roles, stability=stability, **ctx)
    return figures


def test_report_has_every_section_and_figure(tmp_path):
    figures = _report_folder(tmp_path)
    assert set(figures) == {"top_interactions", "interaction_graph", "pairwise", "heads_shapley", "faithfulness_curves"}
    page = (tmp_path / "report.html").read_text()
    for needle in ("Minimal faithful circuit", "Faithfulness curves", "CPR", "CMD", "Head roles", "Seed stability",
                   "prev-token L0H0", "induction L1H2", "metric: log-prob of the next token"):
        assert needle in page, needle
    for file in figures.values():
        assert (tmp_path / file).stat().st_size > 5000


def test_report_renders_in_headless_chromium(tmp_path):
    import shutil

    browser = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    if browser is None:
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    figures = _report_folder(tmp_path)
    page = (tmp_path / "report.html").read_text()
    probe = (
        "<script>window.addEventListener('load',()=>{document.body.setAttribute('data-loaded',"
        "[...document.images].map(i=>i.complete&&i.naturalWidth>0?'1':'0').join(''))});</script>"
    )
    (tmp_path / "probe.html").write_text(page.replace("</body>", probe + "</body>"))
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"]
    dom = subprocess.run(
        common + ["--dump-dom", (tmp_path / "probe.html").as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    import re

    loaded = re.search(r'data-loaded="([01]*)"', dom.stdout)
    assert loaded, dom.stdout[:500]
    assert loaded.group(1) == "1" * len(figures), loaded.group(1)  # every figure decoded by the browser
    shot = tmp_path / "shot.png"
    run = subprocess.run(
        common + [f"--screenshot={shot}", "--window-size=1200,3000", (tmp_path / "report.html").as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0 and shot.stat().st_size > 20000, run.stderr[-2000:]


def test_plots_read_layers_from_ids():
    from spex_mech import plots
    from spex_mech.results.interactions import Interactions

    ids = ["blocks.3.attn.hook_z[1]", "blocks.0.mlp.hook_post[5]", "tok2"]
    assert plots.unit_layers(["a", "b", "c"], ids) == [3, 0, None]
    assert plots.unit_layers(["L2H0"]) == [2]
    r = Interactions.from_mobius({(0,): 1.0, (0, 1): 0.5}, 3, labels=["x", "y", "z"], ids=ids)
    fig = plots.head_heatmap(r)  # the head is found by its id although its label is "x"
    assert fig.axes[0].get_images()[0].get_array().shape == (4, 2)


def test_with_pyplot_already_in_use_figures_are_pyplot_figures(tmp_path):
    code = (
        "import matplotlib\n"
        "matplotlib.use('Agg')\n"
        "import matplotlib.pyplot as plt\n"
        "from spex_mech import plots\n"
        "from spex_mech.report import write_figures\n"
        "from spex_mech.results.interactions import Interactions\n"
        "r = Interactions.from_mobius({(0,): 0.5, (0, 1): -0.25}, 3, labels=['L0H0', 'L0H1', 'L1H0'])\n"
        "fig = plots.top_bar(r)\n"
        "assert plt.get_fignums() == [fig.number], plt.get_fignums()\n"
        "plt.close('all')\n"
        f"write_figures(r, __import__('pathlib').Path(r'{tmp_path}'))\n"
        "assert plt.get_fignums() == [], 'the report left pyplot figures open'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_in_a_jupyter_kernel_figures_go_through_pyplot():
    code = (
        "import sys, types\n"
        "sys.modules['ipykernel'] = types.ModuleType('ipykernel')  # as inside a notebook kernel\n"
        "from spex_mech import plots\n"
        "assert 'matplotlib.pyplot' not in sys.modules  # importing still imports no pyplot\n"
        "from spex_mech.results.interactions import Interactions\n"
        "fig = plots.top_bar(Interactions.from_mobius({(0,): 0.5}, 2))\n"
        "import matplotlib.pyplot as plt\n"
        "assert plt.get_fignums() == [fig.number]\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          env={**__import__("os").environ, "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stderr
