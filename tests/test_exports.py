"""Exports (issue 19): shapiq InteractionValues against shapiq's exact computation (Python ≥ 3.12 peer
environment, skipped when absent), MIB node scores against MIB's documented JSON schema, the dataframe."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

import spex_mech as sm
from spex_mech.results.exports import mib_cfg, mib_node_name, shapiq_payload
from spex_mech.synthetic import random_sparse_function

ROOT = Path(__file__).resolve().parents[1]
BRIDGE = ROOT / "spex_mech" / "results" / "_shapiq_bridge.py"


def _peer_python() -> str | None:
    """A Python with shapiq: $SHAPIQ_PYTHON, else .cache/venv312 (see docs_pending for how it is built)."""
    for cand in (os.environ.get("SHAPIQ_PYTHON"), str(ROOT / ".cache" / "venv312" / "bin" / "python")):
        if cand and Path(cand).exists():
            probe = subprocess.run([cand, "-c", "import shapiq"], capture_output=True, check=False)
            if probe.returncode == 0:
                return cand
    return None


_WORKER = r"""
import importlib.util, json, sys
import numpy as np, shapiq
spec = importlib.util.spec_from_file_location("bridge", sys.argv[1])
bridge = importlib.util.module_from_spec(spec); spec.loader.exec_module(bridge)
job = json.load(open(sys.argv[2]))
terms = [(tuple(k), v) for k, v in job["mobius"]]
n = job["n"]
def game(c):
    c = np.asarray(c, dtype=bool)
    out = np.zeros(c.shape[0])
    for k, v in terms:
        out += v * (c[:, list(k)].all(axis=1) if k else 1.0)
    return out
exact = shapiq.ExactComputer(game, n_players=n)
report = {}
for payload in job["payloads"]:
    mine = bridge.interaction_values(payload)
    assert isinstance(mine, shapiq.InteractionValues)
    ref = exact(payload["index"], payload["max_order"])
    keys = set(mine.interaction_lookup) | {k for k in ref.interaction_lookup if len(k) <= payload["max_order"]}
    check_empty = payload["index"] not in ("SII", "BII", "BV")
    diffs = [abs(mine[k] - ref[k]) for k in keys if len(k) >= 1 or check_empty]
    report[payload["index"]] = {"max_diff": max(diffs), "compared": len(diffs),
                                "baseline": [mine.baseline_value, ref.baseline_value]}
print(json.dumps(report))
"""


def test_shapiq_export_equals_shapiqs_exact_values(tmp_path):
    peer = _peer_python()
    if peer is None:
        pytest.skip("no Python with shapiq (needs ≥ 3.12): set SHAPIQ_PYTHON or build .cache/venv312")
    f = random_sparse_function(6, 10, orders=(1, 2, 3), basis="mobius", seed=3, constant=0.7)
    result = sm.exhaustive(f)
    indices = ["SV", "BV", "SII", "BII", "k-SII", "STII", "FSII", "FBII", "Moebius"]
    payloads = [shapiq_payload(result, ix, 2) for ix in indices]
    job = {"n": 6, "mobius": [[list(k), v] for k, v in f.truth.mobius().items()], "payloads": payloads}
    (tmp_path / "job.json").write_text(json.dumps(job))
    (tmp_path / "w.py").write_text(_WORKER)
    proc = subprocess.run([peer, str(tmp_path / "w.py"), str(BRIDGE), str(tmp_path / "job.json")],
                          capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(report) == set(indices)
    for ix, r in report.items():
        assert r["max_diff"] < 1e-9, (ix, r)
        assert r["compared"] >= 6, (ix, r)  # every player at least
        assert r["baseline"][0] == pytest.approx(r["baseline"][1], abs=1e-9), (ix, r)


def test_shapiq_payload_refuses_unknown_index():
    r = sm.Interactions.from_mobius({(0,): 1.0}, 2)
    with pytest.raises(ValueError, match="no shapiq counterpart"):
        shapiq_payload(r, "fourier")


# MIB's importance-score JSON as EAP-IG's Graph.from_json reads it (the file format the MIB circuit track
# accepts): top-level cfg / nodes / edges; cfg has n_layers, n_heads, parallel_attn_mlp, d_model; node
# names 'input', 'logits', 'a{l}.h{h}', 'm{l}' inside the model; each node {in_graph: bool, score: float}.
_MIB_NODE = re.compile(r"^(input|logits|a(\d+)\.h(\d+)|m(\d+))$")


def _validate_mib(doc):
    assert set(doc) >= {"cfg", "nodes", "edges"}
    cfg = doc["cfg"]
    assert {"n_layers", "n_heads", "parallel_attn_mlp", "d_model"} <= set(cfg)
    assert isinstance(cfg["parallel_attn_mlp"], bool)
    for name, node in doc["nodes"].items():
        m = _MIB_NODE.match(name)
        assert m, name
        if m.group(2) is not None:
            assert int(m.group(2)) < cfg["n_layers"] and int(m.group(3)) < cfg["n_heads"], name
        if m.group(4) is not None:
            assert int(m.group(4)) < cfg["n_layers"], name
        assert isinstance(node["in_graph"], bool)
        assert isinstance(node["score"], float) and np.isfinite(node["score"])
    assert isinstance(doc["edges"], dict)
    json.loads(json.dumps(doc, allow_nan=False))  # strict JSON (no NaN)


def test_mib_node_scores_follow_the_schema(tmp_path):
    from spex_mech.zoo import induction

    model = induction.load()
    units = sm.AttentionHeads(model)
    r = sm.Interactions.from_mobius(
        {(0, 6): 1.5, (1,): -0.5, (1, 6): 0.25}, len(units), labels=units.labels, ids=units.ids
    )
    doc = r.to_mib(mib_cfg(model), path=str(tmp_path / "mib.json"))
    _validate_mib(doc)
    assert json.loads((tmp_path / "mib.json").read_text()) == doc
    assert set(doc["nodes"]) == {f"a{l}.h{h}" for l in range(2) for h in range(4)}
    # mobius share: L0H0 gets 1.5/2; L0H1 0.5 + 0.25/2; L1H2 (index 6) 1.5/2 + 0.25/2
    assert doc["nodes"]["a0.h0"]["score"] == pytest.approx(0.75)
    assert doc["nodes"]["a0.h1"]["score"] == pytest.approx(0.625)
    assert doc["nodes"]["a1.h2"]["score"] == pytest.approx(0.875)
    assert doc["nodes"]["a1.h3"]["score"] == 0.0


def test_mib_refuses_units_without_a_node_and_the_neuron_level():
    r = sm.Interactions.from_mobius({(0,): 1.0}, 2, ids=["blocks.0.attn.hook_z[0]", "blocks.0.mlp.hook_post[3]"])
    cfg = {"n_layers": 1, "n_heads": 1, "d_model": 8}
    with pytest.raises(ValueError, match="unit 1 .* has no MIB node"):
        r.to_mib(cfg)
    with pytest.raises(ValueError, match="unit 0 .* is not a MIB neuron"):
        r.to_mib(cfg, level="neuron")
    with pytest.raises(ValueError, match="missing d_model"):
        r.to_mib({"n_layers": 1, "n_heads": 1})
    assert mib_node_name("blocks.3.hook_mlp_out") == "m3" and mib_node_name("blocks.1.attn.hook_z[2]") == "a1.h2"


def test_dataframe_has_basis_order_labels_and_hook_ids():
    r = sm.Interactions.from_mobius(
        {(): 1.0, (0, 2): -0.5, (1,): 0.25},
        3,
        labels=["A", "B", "C"],
        ids=["blocks.0.attn.hook_z[0]", "blocks.0.attn.hook_z[1]", "blocks.1.attn.hook_z[0]"],
    )
    df = r.to_dataframe()
    assert list(df.columns) == ["units", "labels", "order", "value", "basis", "ids"]
    row = df[df["order"] == 2].iloc[0]
    assert row["labels"] == "A × C" and row["ids"] == ("blocks.0.attn.hook_z[0]", "blocks.1.attn.hook_z[0]")
    assert row["value"] == pytest.approx(-0.5) and row["basis"] == "mobius"
    assert set(r.to_dataframe("k-SII")["basis"]) == {"k-SII"}


def test_mib_node_names_read_ids_through_the_hook_parser():
    assert mib_node_name("blocks.1.attn.hook_z[2]") == "a1.h2"
    assert mib_node_name("blocks.1.attn.hook_result[2]") == "a1.h2"  # the same head, masked after W_O
    assert mib_node_name("blocks.0.hook_mlp_out") == "m0"
    others = ("blocks.0.mlp.hook_post[3]", "blocks.0.hook_mlp_out[:, :, 3]", "tokens[2]", "blocks.0.attn.hook_q[1]")
    for other in others:
        assert mib_node_name(other) is None, other
