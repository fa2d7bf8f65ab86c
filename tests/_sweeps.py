"""Shared sweep fixtures for the command-line tests: a slowed planted model and its TOML config body.

``SLOW_MODEL`` is the source of ``slow_planted.py``, an entry module that loads the planted zoo model and
sleeps in every forward pass (so a sweep runs long enough to be interrupted); with ``SPEX_TEST_MARKS`` set it
also leaves a ``loaded-<pid>`` file there, so a test can tell which processes loaded the model.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

SLOW_MODEL = textwrap.dedent(
    """
    import os
    import time
    from pathlib import Path
    from spex_mech.zoo import planted

    def load():
        marks = os.environ.get("SPEX_TEST_MARKS")
        if marks:
            (Path(marks) / f"loaded-{os.getpid()}").touch()
        model = planted.load()
        model.register_forward_pre_hook(lambda module, args: time.sleep(0.02))  # make the sweep take a while
        return model
    """
)


def planted_sweep_config(*, max_order: int, budget: int, seed: int = 3, output: str = "") -> str:
    """The TOML body of a SPEX sweep over the slowed planted model's 12 heads and 4 neurons."""
    return textwrap.dedent(
        f"""
        [model]
        entry = "slow_planted:load"

        [prompts]
        tokens = [[0, 1, 2, 3, 0, 1], [1, 2, 3, 0, 1, 2]]

        [metric]
        kind = "logit_diff"
        correct = 1
        incorrect = 0

        [units]
        heads = "all"
        neurons = [{{ layer = 0 }}]

        [ablation]
        kind = "zero"

        [algorithm]
        name = "spex"
        max_order = {max_order}
        budget = {budget}
        seed = {seed}
        """
    ) + (f"\n[output]\n{textwrap.dedent(output).strip()}\n" if output else "")


def write_sweep(folder: Path, name: str, text: str) -> Path:
    """Write ``slow_planted.py`` and the config ``name`` (holding ``text``) into ``folder``."""
    (folder / "slow_planted.py").write_text(SLOW_MODEL)
    path = folder / name
    path.write_text(text)
    return path
