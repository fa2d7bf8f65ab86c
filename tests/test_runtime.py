"""spex_mech.runtime: the one progress-bar rule (terminal or Jupyter kernel) and the model-device helper."""

import io
import sys
import types

import torch

from spex_mech.runtime import interactive, model_device


def test_not_interactive_on_a_pipe_without_a_kernel(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert interactive() is False


def test_interactive_inside_a_jupyter_kernel(monkeypatch):
    """A kernel's stderr is a pipe, yet tqdm.auto draws a widget there: bars show by default."""
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    shell = types.SimpleNamespace(kernel=object())
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    fake_ipython = types.ModuleType("IPython")
    fake_ipython.get_ipython = lambda: shell
    monkeypatch.setitem(sys.modules, "IPython", fake_ipython)
    assert interactive() is True
    shell.kernel = None  # a terminal IPython without a kernel and no TTY: no bar
    assert interactive() is False


def test_model_device():
    assert model_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert model_device(object()) == torch.device("cpu")
    assert model_device(torch.nn.Sequential()) == torch.device("cpu")
