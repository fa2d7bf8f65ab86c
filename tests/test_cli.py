"""The spex-mech command line: bad configs are refused before any compute; a SIGKILLed sweep resumes
with the same result and without re-evaluating any stored mask; the main job writes its report."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from spex_mech.cli import main, run_sweep
from spex_mech.config import ConfigError

SLOW_MODEL = textwrap.dedent(
    """
    import time
    from spex_mech.zoo import planted

    def load():
        model = planted.load()
        model.register_forward_pre_hook(lambda module, args: time.sleep(0.02))  # make the sweep take a while
        return model
    """
)

SLOW_CONFIG = textwrap.dedent(
    """
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
    neurons = [{ layer = 0 }]

    [ablation]
    kind = "zero"

    [algorithm]
    name = "spex"
    max_order = 4
    budget = 3000
    seed = 3

    [output]
    flush_every = 8
    faithfulness_samples = 100
    circuit_fraction = 0.99
    figures = ["png"]
    """
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "body, message",
    [
        (
            '[model]\nzoo = "induction"\n[algorithm]\nname = "spex"\nbudgte = 10\n',
            "unknown key 'budgte' in [algorithm]; did you mean 'budget'?",
        ),
        (
            '[model]\nzoo = "induction"\n[algoritm]\nname = "spex"\n',
            "unknown section [algoritm]; did you mean 'algorithm'?",
        ),
        (
            '[model]\nzoo = "induction"\n[units]\nheads = { layers = [5] }\n[algorithm]\nname = "spex"\n',
            "[units]: unknown layer index 5: the model has 2 layers",
        ),
        (
            '[model]\nzoo = "induction"\n[units]\nneurons = [{ layer = 0 }]\n[algorithm]\nname = "spex"\n',
            "[units]: the model has no MLP neurons",
        ),
        ('[model]\nhf = "no_such_folder"\n[algorithm]\nname = "spex"\n', "[model] hf: no Hugging Face model folder"),
        (
            '[model]\nzoo = "inductoin"\n[algorithm]\nname = "spex"\n',
            "[model] zoo: unknown zoo model 'inductoin'; did you mean 'induction'?",
        ),
        ('[model]\nzoo = "induction"\n[algorithm]\nname = "spex"\nmax_order = 3\nbudget = 50\n', "[algorithm] budget:"),
        # the limit is proxyspex's own (the registry asks the function), not a second copy in the CLI
        (
            '[model]\nzoo = "induction"\n[algorithm]\nname = "proxyspex"\nbudget = 9\n',
            "[algorithm] budget: budget must be an integer ≥ 10, got 9 (proxyspex with 8 units)",
        ),
        (
            '[model]\nzoo = "induction"\n[algorithm]\nname = "spexx"\n',
            "[algorithm] name: unknown algorithm 'spexx'; did you mean 'spex'?",
        ),
        (
            '[model]\nzoo = "induction"\n[algorithm]\nname = "spex"\nbudget = "lots"\n',
            "[algorithm] budget must be model evaluations",
        ),
        (
            '[model]\nzoo = "induction"\n[ablation]\nkind = "mean_tokenwize"\n[algorithm]\nname = "spex"\n',
            "[ablation] kind: unknown ablation 'mean_tokenwize'",
        ),
        (
            '[model]\nentry = "nowhere:load"\n[algorithm]\nname = "spex"\n',
            "[model] entry: cannot import module 'nowhere'",
        ),
        (
            '[model]\nzoo = "induction"\n[algorithm]\nname = "proxyspex"\nbudget = 100\noptions = { depth = 4 }\n',
            "[algorithm] options: proxyspex has no option 'depth'; did you mean 'depths'?",
        ),
        (
            '[model]\nzoo = "induction"\n[algorithm]\nname = "spex"\nseed = 1\noptions = { seed = 2 }\n',
            "[algorithm] options: 'seed' is also set as [algorithm] seed; give it once",
        ),
        (
            '[model]\nzoo = "induction"\n[algorithm]\nname = "exhaustive"\noptions = { n = 3 }\n',
            "[algorithm] options: 'n' is set by the sweep",
        ),
    ],
)
def test_bad_config_rejected_before_compute(tmp_path, capsys, body, message):
    cfg = write(tmp_path, "bad.toml", body)
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert not (out / "store").exists()  # nothing was evaluated


def test_option_value_refused_by_the_algorithm_leaves_no_run_folder(tmp_path, capsys):
    """An option value the algorithm rejects before asking for any value: a config error carrying the
    algorithm's message, and no store or run folder left behind (a folder that already existed stays)."""
    cfg = write(
        tmp_path,
        "cfg.toml",
        '[model]\nzoo = "induction"\n[algorithm]\nname = "proxyspex"\nbudget = 100\n'
        'max_order = 3\noptions = { depths = [3, 6] }\n',
    )
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out), "--quiet"]) == 2
    assert (
        "config error: [algorithm] options.depths: depths (3, 6) exceed max_order=3 (proxyspex with 8 units)"
        in capsys.readouterr().err
    )
    assert not out.exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    with pytest.raises(ConfigError, match="exceed max_order"):
        run_sweep(str(cfg), str(kept), quiet=True)
    assert kept.is_dir() and not any(kept.iterdir())


def test_model_errors_during_the_run_are_not_config_errors(tmp_path):
    """A value function that fails on the algorithm's first masked batch (the clean pass worked) keeps
    its own exception and traceback, even a ValueError: only an algorithm that never asked for a value
    is refusing its configuration."""
    (tmp_path / "broken_metric.py").write_text(
        "def metric(logits):  # logits [mask, prompt, k, vocab]; the clean pass has one mask row\n"
        "    if logits.shape[0] > 1:\n"
        "        raise ValueError('broken forward')\n"
        "    return logits[..., 0, 1] - logits[..., 0, 0]\n"
    )
    body = SLOW_CONFIG.replace('[model]\nentry = "slow_planted:load"', '[model]\nzoo = "planted"').replace(
        "budget = 3000", "budget = 600"
    )
    body = body.replace(
        'kind = "logit_diff"\ncorrect = 1\nincorrect = 0', 'kind = "entry"\nentry = "broken_metric:metric"'
    )
    cfg = write(tmp_path, "cfg.toml", body)
    with pytest.raises(ValueError, match="broken forward") as caught:
        run_sweep(str(cfg), str(tmp_path / "out"), quiet=True)
    assert not isinstance(caught.value, ConfigError)
    assert "algorithms" in "".join(str(entry.path) for entry in caught.traceback)  # raised inside the algorithm's call
    assert not (tmp_path / "out").exists()  # nothing was evaluated: no store left


def _records(out: Path) -> int:
    """Committed rows in the run's store, read with plain sqlite3 (not through MaskStore)."""
    file = out / "store" / "store.sqlite"
    if not file.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{file}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("select count(*) from evals").fetchone()[0])
    except sqlite3.OperationalError:  # created but the tables are not committed yet
        return 0


def test_sigkill_then_resume_gives_same_result_without_reevaluation(tmp_path):
    write(tmp_path, "slow_planted.py", SLOW_MODEL)
    cfg = write(tmp_path, "sweep.toml", SLOW_CONFIG)
    killed_out = tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "spex_mech.cli", "run", str(cfg), "--out", str(killed_out), "--quiet"], env=env
    )
    deadline = time.time() + 120
    while _records(killed_out) < 80 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    stored = _records(killed_out)
    assert stored >= 80

    resumed = run_sweep(str(cfg), str(killed_out), resume=True, quiet=True)
    reference = run_sweep(str(cfg), str(tmp_path / "reference"), quiet=True)

    assert resumed["stored_before"] == stored
    # every stored mask was answered from disk; only the rest was evaluated
    assert resumed["fresh_evaluations"] == reference["fresh_evaluations"] - stored
    with sqlite3.connect(killed_out / "store" / "store.sqlite") as conn:
        masks = [m for (m,) in conn.execute("select mask from evals")]
    assert (
        len(set(masks)) == len(masks) == resumed["stored_before"] + resumed["fresh_evaluations"]
    )  # no mask evaluated twice
    a = json.loads((killed_out / "results.json").read_text())["interactions"]["fourier"]
    b = json.loads((tmp_path / "reference" / "results.json").read_text())["interactions"]["fourier"]
    assert a == b
    assert (killed_out / "report.html").exists() and (killed_out / "evaluations.npz").exists()


def test_existing_store_needs_resume(tmp_path, capsys):
    write(tmp_path, "slow_planted.py", SLOW_MODEL.replace("0.02", "0.0"))
    cfg = write(
        tmp_path,
        "sweep.toml",
        SLOW_CONFIG.replace("budget = 3000", "budget = 600").replace("max_order = 4", "max_order = 2"),
    )
    out = tmp_path / "o"
    run_sweep(str(cfg), str(out), quiet=True)
    assert main(["run", str(cfg), "--out", str(out), "--quiet"]) == 2
    assert "pass --resume" in capsys.readouterr().err
    other = write(tmp_path, "other.toml", SLOW_CONFIG.replace('kind = "zero"', 'kind = "mean"'))
    assert main(["run", str(other), "--out", str(out), "--resume", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "written for a different value function: ablation (stored \"zero\", now \"mean\")" in err, err


def test_main_job_writes_report(tmp_path):
    """The README's main job: the induction sweep, offline, writes the report."""
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "induction"
    assert main(["run", str(root / "configs" / "induction.toml"), "--out", str(out), "--quiet"]) == 0
    run = json.loads((out / "results.json").read_text())["run"]
    assert run["faithfulness_r2"] > 0.95
    assert (out / "report.html").stat().st_size > 1000
    assert (out / "interaction_graph.png").exists() and (out / "interaction_graph.svg").exists()
    top = json.loads((out / "results.json").read_text())["interactions"]
    assert top["algorithm"] == "spex"
