"""Issue 20 through the command line: a ``[cluster]`` section runs the sweep on Ray actors with the same
result as the single-process sweep; a SIGKILLed driver resumes and evaluates only what is not stored;
Ctrl-C stops the actors; bad ``[cluster]`` values are one-line config errors (exit 2).

Oracles: the same config without ``[cluster]`` (single process), stored masks counted through the
store's public API, actor process ids the actors write themselves when they load the model.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from spex_mech.cli import main, run_sweep

ray = pytest.importorskip("ray")

from spex_mech.store import MaskStore, StoreError  # noqa: E402

from ._sweeps import planted_sweep_config, write_sweep  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]

BODY = planted_sweep_config(max_order=2, budget=600, output="batch_size = 16\nfaithfulness_samples = 200")

CLUSTER = '\n[cluster]\naddress = "local"\nactors = 1\ncpus_per_actor = 1\nchunk_size = 8\n'



def _stored(out: Path, cfg: Path) -> int:
    """Masks in the run's store, counted through the store API (0 before the run has made it)."""
    try:
        return len(MaskStore.open_existing(out / "store"))
    except StoreError:  # not made yet (or its tables not committed yet)
        return 0


def _spawn(cfg: Path, out: Path, marks: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SPEX_TEST_MARKS": str(marks)}
    cmd = [sys.executable, "-m", "spex_mech.cli", "run", str(cfg), "--out", str(out), "--quiet", *extra]
    return subprocess.Popen(cmd, env=env, start_new_session=True, stderr=subprocess.PIPE, text=True)


def _wait_for_masks(proc: subprocess.Popen, out: Path, cfg: Path, count: int) -> None:
    deadline = time.time() + 240
    while _stored(out, cfg) < count and proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, f"the sweep ended before it could be stopped: {proc.stderr.read()[-2000:]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_driver_killed_then_resume_evaluates_only_unfinished_chunks(local_ray, tmp_path):
    cfg = write_sweep(tmp_path, "cluster.toml", BODY + CLUSTER)
    plain = write_sweep(tmp_path, "plain.toml", BODY)
    marks = tmp_path / "marks"
    marks.mkdir()
    out = tmp_path / "killed"
    proc = _spawn(cfg, out, marks)
    try:
        _wait_for_masks(proc, out, cfg, 80)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        try:  # the killed driver's own local Ray (started in its session) goes too
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert proc.returncode == -signal.SIGKILL
    stored = _stored(out, cfg)
    assert stored >= 80

    resumed = run_sweep(str(cfg), str(out), resume=True, quiet=True)
    reference = run_sweep(str(plain), str(tmp_path / "reference"), quiet=True)

    assert resumed["cluster"]["actors"] == 1 and "cluster" not in reference
    assert resumed["stored_before"] == stored
    # only what the killed driver had not stored was evaluated again
    assert resumed["fresh_evaluations"] == reference["fresh_evaluations"] - stored
    evaluated = np.load(tmp_path / "reference" / "evaluations.npz")
    store = MaskStore.open_existing(out / "store")
    assert len(store) == len(evaluated["masks"])  # each mask stored exactly once
    found, values = store.lookup(evaluated["masks"])
    assert found.all() and np.array_equal(values, evaluated["values"])  # bit for bit, cluster vs single process
    a = json.loads((out / "results.json").read_text())["interactions"]["fourier"]
    b = json.loads((tmp_path / "reference" / "results.json").read_text())["interactions"]["fourier"]
    assert a == b


def test_ctrl_c_stops_the_actors(tmp_path):
    cfg = write_sweep(tmp_path, "cluster.toml", BODY + CLUSTER)
    marks = tmp_path / "marks"
    marks.mkdir()
    out = tmp_path / "run"
    proc = _spawn(cfg, out, marks)
    try:
        _wait_for_masks(proc, out, cfg, 16)
        actors = [int(p.name.split("-")[1]) for p in marks.glob("loaded-*") if int(p.name.split("-")[1]) != proc.pid]
        assert actors, "no actor loaded the model"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130
        assert err.strip().splitlines()[-1].startswith("spex-mech: interrupted: ")
        deadline = time.time() + 20
        while any(_pid_alive(pid) for pid in actors) and time.time() < deadline:
            time.sleep(0.2)
        assert not any(_pid_alive(pid) for pid in actors), "an actor outlived Ctrl-C"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert _stored(out, cfg) >= 16  # what was evaluated stays for --resume


@pytest.mark.parametrize(
    "section, message",
    [
        ("actors = 0", "[cluster] actors must be at least 1, got 0"),
        ("actors = 1.5", "[cluster] actors must be number of Ray actors (model replicas), got float 1.5"),
        ("gpus_per_actor = -1", "[cluster] gpus_per_actor must be at least 0, got -1"),
        (
            'address = "nowhere"',
            "[cluster] address must be 'local', 'auto', 'ray://host:port' or 'host:port', got 'nowhere'",
        ),
        ("actor = 2", "unknown key 'actor' in [cluster]; did you mean 'actors'?"),
    ],
)
def test_bad_cluster_section_is_a_config_error(tmp_path, capsys, section, message):
    cfg = write_sweep(tmp_path, "bad.toml", BODY + "\n[cluster]\n" + section + "\n")
    assert main(["check", str(cfg)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("spex-mech check: loads the model")  # check says what it runs, then the one error line
    assert lines[1:] == [f"spex-mech: config error: {message}"]


def test_more_gpus_than_the_cluster_has_leaves_no_run_folder(local_ray, tmp_path, capsys):
    cfg = write_sweep(tmp_path, "gpu.toml", BODY + '\n[cluster]\naddress = "local"\nactors = 2\ngpus_per_actor = 1\n')
    assert main(["run", str(cfg), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "spex-mech: config error: [cluster] 2 actor(s) × 1 GPU need 2 GPU(s); the cluster has 0"
    assert not (tmp_path / "out").exists()


def test_unreachable_address_exits_2_with_one_line(tmp_path):
    cfg = write_sweep(tmp_path, "far.toml", BODY + '\n[cluster]\naddress = "ray://127.0.0.1:9"\n')
    t0 = time.time()
    done = subprocess.run(
        [sys.executable, "-m", "spex_mech.cli", "run", str(cfg), "--out", str(tmp_path / "out"), "--quiet"],
        capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    unreachable = "spex-mech: config error: [cluster] cannot reach the Ray cluster at 'ray://127.0.0.1:9' ("
    assert lines[-1].startswith(unreachable)
    assert time.time() - t0 < 120
    assert not (tmp_path / "out").exists()
