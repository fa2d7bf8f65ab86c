"""Plots and the HTML report: headless rendering without touching the matplotlib backend."""

from __future__ import annotations

import subprocess
import sys


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
        "r = Interactions.from_mobius({(): 1.0, (0,): 0.5, (0, 1): -0.25, (0, 1, 2): 0.1}, 3, labels=['L0H0', 'L0H1', 'L1H0'])\n"
        "fig = plots.interaction_graph(r)\n"
        f"fig.savefig(r'{tmp_path / 'g.png'}')\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported by a plot'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=None)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "g.png").stat().st_size > 1000
