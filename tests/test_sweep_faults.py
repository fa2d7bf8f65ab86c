"""Fault injection on whole sweeps: changed inputs at the same paths, damaged stores, foreign folders,
concurrent runs and Ctrl-C / SIGTERM. Each either refuses with exit ≠ 0 and one line naming the
problem, or gives exactly the result of an uninterrupted run on the current inputs; a user's files
always survive."""

from __future__ import annotations

import json
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

import spex_mech as sm
from spex_mech.cli import main
from spex_mech.results import Interactions
from spex_mech.runfolder import LOCK, MARKER, RunFolder

MODEL = textwrap.dedent(
    """
    import time
    from pathlib import Path

    import torch
    from spex_mech.zoo import planted

    HERE = Path(__file__).parent

    def load():
        model = planted.load()
        model.load_state_dict(torch.load(HERE / "weights.pt", weights_only=True))
        factor = float((HERE / "factor.txt").read_text())
        delay = float((HERE / "delay.txt").read_text()) if (HERE / "delay.txt").exists() else 0.0
        def scale(module, args, out):
            time.sleep(delay)
            return out * factor
        model.register_forward_hook(scale)  # a hook: invisible to a weights hash, seen by the spot check
        return model
    """
)

METRIC = "def metric(logits):\n    return logits[..., 0, 1] - logits[..., 0, 0]\n"

CONFIG = textwrap.dedent(
    """
    [model]
    entry = "fault_model:load"

    [prompts]
    tokens = "prompts.json"

    [metric]
    kind = "entry"
    entry = "fault_metric:metric"

    [units]
    heads = { layers = [0], heads = [0, 1, 2, 3, 4, 5, 6] }

    [ablation]
    kind = "mean"
    reference = "reference.json"

    [algorithm]
    name = "exhaustive"

    [output]
    flush_every = 16
    faithfulness_samples = 50
    figures = []
    """
)


@pytest.fixture()
def project(tmp_path):
    from spex_mech.zoo import planted

    state = planted.load().state_dict()
    g = torch.Generator().manual_seed(0)
    for key in ("embed.weight", "blocks.0.attn.v.weight"):  # token-dependent head outputs: mean ablation matters
        state[key] = state[key] + 0.7 * torch.randn(state[key].shape, generator=g)
    torch.save(state, tmp_path / "weights.pt")
    (tmp_path / "fault_model.py").write_text(MODEL)
    (tmp_path / "fault_metric.py").write_text(METRIC)
    (tmp_path / "factor.txt").write_text("1.0")
    (tmp_path / "prompts.json").write_text("[[0, 1, 2, 3, 0, 1], [1, 2, 3, 0, 1, 2]]")
    (tmp_path / "reference.json").write_text("[[3, 2, 1, 0, 3, 2], [2, 2, 1, 1, 0, 0]]")
    (tmp_path / "sweep.toml").write_text(CONFIG)
    return tmp_path


def run(project: Path, out: str = "out", *extra: str) -> int:
    return main(["run", str(project / "sweep.toml"), "--out", str(project / out), "--quiet", *extra])


def rows(out: Path) -> list[tuple]:
    with sqlite3.connect(out / "store" / "store.sqlite") as conn:
        return conn.execute("select id, mask, value from evals order by id").fetchall()


def _perturb_weights(p: Path) -> None:
    state = torch.load(p / "weights.pt", weights_only=True)
    key = "blocks.0.attn.o.weight"
    state[key] = state[key] * 2
    torch.save(state, p / "weights.pt")


CHANGES = {
    "weights": (_perturb_weights, 'model (stored "tensors:'),
    "prompts": (
        lambda p: (p / "prompts.json").write_text("[[0, 1, 2, 3, 0, 2], [1, 2, 3, 0, 1, 2]]"),
        'tokens (stored "ids:',
    ),
    "reference": (
        lambda p: (p / "reference.json").write_text("[[3, 2, 1, 0, 3, 3], [2, 2, 1, 1, 0, 0]]"),
        'reference (stored "ids:',
    ),
    "entry_code": (
        lambda p: (p / "fault_metric.py").write_text(METRIC.replace("0, 1]", "0, 2]")),
        "entry_code (stored",
    ),
    "hook_factor": (lambda p: (p / "factor.txt").write_text("1.5"), "--resume: re-evaluating the all-ones mask gives"),
    "deleted_identity": (
        lambda p: (
            sqlite3.connect(p / "out" / "store" / "store.sqlite").execute("delete from identity").connection.commit()
        ),
        "has no identity record",
    ),
    "edited_value": (
        lambda p: (
            sqlite3.connect(p / "out" / "store" / "store.sqlite")
            .execute("update evals set value = value + 1 where id = 5")
            .connection.commit()
        ),
        "row 5 fails its checksum check",
    ),
    "truncated": (lambda p: _truncate(p / "out" / "store" / "store.sqlite"), "is damaged"),
}


def _truncate(file: Path) -> None:
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_resume_after_a_change_refuses_naming_it(project, capsys, change):
    assert run(project) == 0
    before = rows(project / "out") if change != "truncated" else None
    results = (project / "out" / "results.json").read_text()
    capsys.readouterr()
    mutate, message = CHANGES[change]
    mutate(project)
    assert run(project, "out", "--resume") == 2
    err = capsys.readouterr().err.strip()
    assert message in err, err
    assert len(err.splitlines()) == 1 and (
        err.startswith("spex-mech: store error:") or err.startswith("spex-mech: config error:")
    ), err
    assert (project / "out" / "results.json").read_text() == results  # nothing of the earlier run touched
    if before is not None and change not in ("deleted_identity", "edited_value"):
        assert rows(project / "out") == before


def test_resume_on_unchanged_inputs_reuses_everything_and_matches(project):
    assert run(project) == 0
    first = json.loads((project / "out" / "results.json").read_text())
    assert run(project, "out", "--resume") == 0
    again = json.loads((project / "out" / "results.json").read_text())
    assert again["run"]["fresh_evaluations"] == 0 and again["run"]["spot_checked_on_resume"] == 5
    assert again["interactions"] == first["interactions"]
    assert (project / "out" / "report.html").exists()
    assert not list((project / "out").glob("*.png")) and not list((project / "out").glob("*.svg"))  # figures = []
    record = sm.load_run(project / "out")
    assert record.result.to_dict() == again["interactions"] and record.config["algorithm"]["name"] == "exhaustive"
    assert record.result.ids == again["run"]["unit_ids"] and record.run["fresh_evaluations"] == 0
    assert Interactions.from_json(str(project / "out" / "results.json")).fourier == record.result.fourier


def test_a_users_folder_survives_every_failing_run(project, capsys):
    user = project / "mine"
    (user / "store").mkdir(parents=True)
    (user / "store" / "keep.txt").write_text("precious")
    (user / "notes.md").write_text("mine")
    assert run(project, "mine") == 2
    assert "already holds files that are not a spex-mech run (e.g. 'notes.md')" in capsys.readouterr().err
    (user / "notes.md").unlink()
    assert run(project, "mine") == 2
    assert "already holds files that are not a spex-mech run (e.g. 'store')" in capsys.readouterr().err
    assert (user / "store" / "keep.txt").read_text() == "precious"
    # an option the algorithm refuses late, in an empty folder of the user's: the folder stays, empty
    empty = project / "empty"
    empty.mkdir()
    (project / "late.toml").write_text(
        CONFIG.replace(
            'name = "exhaustive"', 'name = "proxyspex"\nbudget = 100\nmax_order = 3\noptions = { depths = [3, 6] }'
        )
    )
    assert main(["run", str(project / "late.toml"), "--out", str(empty), "--quiet"]) == 2
    assert "exceed max_order" in capsys.readouterr().err
    assert empty.is_dir() and not any(empty.iterdir())
    # a finished run's folder: a later failing run keeps its store and results
    assert run(project) == 0
    kept = rows(project / "out")
    assert main(["run", str(project / "late.toml"), "--out", str(project / "out"), "--quiet", "--resume"]) == 2
    assert rows(project / "out") == kept and (project / "out" / "results.json").exists()


def test_out_that_is_a_file_or_old_store_is_refused(project, capsys):
    (project / "afile").write_text("x")
    assert run(project, "afile") == 2
    assert "--out " in (err := capsys.readouterr().err) and "is a file, not a folder" in err
    old = project / "old" / "store"
    old.mkdir(parents=True)
    (old / "records.bin").write_bytes(b"1234567890")
    (old / "meta.json").write_text("{}")
    assert run(project, "old", "--resume") == 2
    assert "old format (store/records.bin)" in capsys.readouterr().err
    assert (old / "records.bin").read_bytes() == b"1234567890"


def test_second_writer_is_refused_naming_the_first_and_a_stale_lock_is_taken_over(project, capsys):
    with RunFolder(project / "out"):
        assert run(project) == 2
        err = capsys.readouterr().err
        assert f"is in use by another spex-mech run (PID {os.getpid()} on " in err, err
    assert not (project / "out" / "store").exists()
    # a lock file left by a killed run (its PID gone, no flock held): taken over
    (project / "out" / LOCK).write_text(json.dumps({"pid": 999999, "host": "h", "started": "then", "command": "x"}))
    assert run(project) == 0
    assert (project / "out" / MARKER).exists()


def _spawn(project: Path, out: str, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable,
        "-m",
        "spex_mech.cli",
        "run",
        str(project / "sweep.toml"),
        "--out",
        str(project / out),
        *extra,
    ]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _count(out: Path) -> int:
    file = out / "store" / "store.sqlite"
    if not file.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{file}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("select count(*) from evals").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_and_sigterm_print_one_line_and_the_resume_command(project, sig, code, word):
    (project / "delay.txt").write_text("0.3")
    proc = _spawn(project, "out", "--quiet")
    deadline = time.time() + 120
    while _count(project / "out") < 32 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep finished before the signal"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    line = err.strip()
    assert len(line.splitlines()) == 1, err
    safe = _count(project / "out")
    assert line.startswith(
        f"spex-mech: {word}: {safe} evaluated masks are safe in {project / 'out' / 'store'}; "
        "resume with: spex-mech run "
    )
    command = shlex.split(line.split("resume with: ", 1)[1])
    assert command[-2:] == ["--resume", "--quiet"]
    (project / "delay.txt").unlink()
    assert main(command[1:]) == 0
    resumed = json.loads((project / "out" / "results.json").read_text())
    assert resumed["run"]["stored_before"] == safe and resumed["run"]["fresh_evaluations"] == 128 - safe
    assert run(project, "clean") == 0
    clean = json.loads((project / "clean" / "results.json").read_text())
    assert resumed["interactions"]["fourier"] == clean["interactions"]["fourier"]


@pytest.mark.slow
def test_two_concurrent_runs_on_one_folder(project):
    """Two processes started together on the same --out: exactly one runs, the other is refused naming it;
    no mask is evaluated twice."""
    (project / "delay.txt").write_text("0.5")
    a, b = _spawn(project, "out", "--quiet"), _spawn(project, "out", "--quiet")
    (_, err_a), (_, err_b) = a.communicate(timeout=300), b.communicate(timeout=300)
    codes = sorted([a.returncode, b.returncode])
    assert codes == [0, 2], (err_a, err_b)
    refused = err_a if a.returncode == 2 else err_b
    assert "is in use by another spex-mech run (PID " in refused
    stored = rows(project / "out")
    assert len(stored) == 128 and len({m for _, m, _ in stored}) == 128


@pytest.mark.slow
def test_same_seed_same_result_across_processes_batch_sizes_and_threads(project):
    """spex with a fixed seed: an in-process run with batch_size 'auto', one with batch_size 3 and one
    thread, and a second process with two threads give identical coefficients."""
    body = CONFIG.replace('name = "exhaustive"', 'name = "spex"\nmax_order = 2\nbudget = 400\nseed = 7')
    (project / "a.toml").write_text(body)
    (project / "b.toml").write_text(body.replace("flush_every = 16", "flush_every = 5\nbatch_size = 3"))
    assert main(["run", str(project / "a.toml"), "--out", str(project / "a"), "--quiet"]) == 0
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["run", str(project / "b.toml"), "--out", str(project / "b"), "--quiet"]) == 0
    finally:
        torch.set_num_threads(threads)
    env = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    done = subprocess.run(
        [sys.executable, "-m", "spex_mech.cli", "run", str(project / "a.toml"), "--out", str(project / "c"), "--quiet"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    results = [json.loads((project / d / "results.json").read_text()) for d in ("a", "b", "c")]
    assert (
        results[0]["interactions"]["fourier"]
        == results[1]["interactions"]["fourier"]
        == results[2]["interactions"]["fourier"]
    )
    assert results[0]["run"]["identity"] == results[2]["run"]["identity"]
