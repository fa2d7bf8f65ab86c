"""MIB neuron level (issue 19): units, scores against independent oracles, JSON against MIB's layout.

d_model coordinates of MIB nodes as units; their scores against exhaustive per-mask hooks and autograd.
"""

from __future__ import annotations

import itertools
import json
import math
import re

import numpy as np
import pytest
import torch

import spex_mech as sm
from spex_mech.algorithms.baselines.attribution import attribution_patching, attribution_scores
from spex_mech.results.exports import mib_cfg
from spex_mech.units.mib import MIBNeurons, neuron_id, parse_neuron_id
from spex_mech.zoo._bridge import build_native

CFG = dict(d_model=16, d_head=4, n_heads=4, n_layers=2, n_ctx=16, d_vocab=32, d_mlp=16, act_fn="gelu",
           normalization_type="LN", attn_only=False, seed=3)


@pytest.fixture(scope="module")
def model():
    """Build a small two-layer model with MLPs."""
    m = build_native(CFG)
    m.eval()
    return m


@pytest.fixture(scope="module")
def prompts():
    """Three random prompts of eight tokens."""
    return torch.randint(1, 32, (3, 8), generator=torch.Generator().manual_seed(5))


# MIB's importance-score JSON at neuron level, written from EAP-IG's Graph.to_json / Graph.from_json
# (MIB code, EAP-IG/src/eap/graph.py): top-level cfg / nodes / edges; node names 'input', 'a{l}.h{h}',
# 'm{l}', 'logits'; a neuron-level node is {in_graph: bool, neurons: [bool] * d_model,
# neurons_scores: [float] * d_model} (NaN = unscored, kept); from_json places node rows at the forward
# index: input 0, a{l}.h{h} 1 + l (n_heads + 1) + h, m{l} 1 + l (n_heads + 1) + n_heads.
_NODE = re.compile(r"^(input|logits|a(\d+)\.h(\d+)|m(\d+))$")


def _validate_mib_neurons(doc):
    assert set(doc) >= {"cfg", "nodes", "edges"}
    cfg = doc["cfg"]
    assert {"n_layers", "n_heads", "parallel_attn_mlp", "d_model"} <= set(cfg)
    d_model = cfg["d_model"]
    for name, node in doc["nodes"].items():
        m = _NODE.match(name)
        assert m, name
        if m.group(4) is not None:
            assert int(m.group(4)) < cfg["n_layers"]
        assert isinstance(node["in_graph"], bool)
        assert len(node["neurons"]) == d_model and all(isinstance(v, bool) for v in node["neurons"])
        assert len(node["neurons_scores"]) == d_model
        assert all(isinstance(v, float) and (math.isnan(v) or math.isfinite(v)) for v in node["neurons_scores"])
    assert isinstance(doc["edges"], dict)


def _mib_neuron_matrix(doc):
    """(n_forward, d_model) neuron scores as MIB's from_json fills them (NaN where nothing is written)."""
    cfg = doc["cfg"]
    out = np.full((1 + cfg["n_layers"] * (cfg["n_heads"] + 1), cfg["d_model"]), np.nan)
    for name, node in doc["nodes"].items():
        if name == "input":
            row = 0
        elif name.startswith("m"):
            row = 1 + int(name[1:]) * (cfg["n_heads"] + 1) + cfg["n_heads"]
        else:
            layer, head = (int(v) for v in re.findall(r"\d+", name))
            row = 1 + layer * (cfg["n_heads"] + 1) + head
        out[row] = node["neurons_scores"]
    return out


def test_units_ids_and_refusals(model):
    """Ids, labels and parsing agree; bad nodes and coordinates are refused."""
    units = MIBNeurons(model, nodes=["input", "m1"], coordinates=[0, 5])
    assert units.ids == ["hook_embed[:, :, 0]", "hook_embed[:, :, 5]",
                         "blocks.1.hook_mlp_out[:, :, 0]", "blocks.1.hook_mlp_out[:, :, 5]"]
    assert units.labels == ["input[0]", "input[5]", "m1[0]", "m1[5]"]
    assert [parse_neuron_id(u) for u in units.ids] == [("input", 0), ("input", 5), ("m1", 0), ("m1", 5)]
    assert parse_neuron_id("blocks.1.hook_mlp_out[:, 5]") is None  # a position id is not read as a neuron
    assert len(MIBNeurons(model)) == 2 * CFG["d_model"]
    with pytest.raises(ValueError, match="head's neurons"):
        MIBNeurons(model, nodes=["a0.h1"])
    with pytest.raises(ValueError, match="model has 2 layers"):
        MIBNeurons(model, nodes=["m2"])
    with pytest.raises(ValueError, match="coordinate index 16"):
        MIBNeurons(model, coordinates=[16])
    with pytest.raises(ValueError, match="not a MIB node name"):
        neuron_id("mlp0", 1)


def test_json_layout_and_placement(model, tmp_path):
    """Scores land at MIB's (forward index, coordinate); bad input is refused."""
    units = MIBNeurons(model, nodes=["input", "m1"], coordinates=[2, 7])
    terms = {(0,): -0.5, (1, 3): 1.0, (2,): 0.25}
    r = sm.Interactions.from_mobius(terms, len(units), labels=units.labels, ids=units.ids)
    doc = r.to_mib(mib_cfg(model), level="neuron", path=str(tmp_path / "mib.json"))
    _validate_mib_neurons(doc)
    assert json.loads((tmp_path / "mib.json").read_text())["nodes"]["m1"]["neurons_scores"][7] == 0.5
    assert set(doc["nodes"]) == {"input", "m1"}
    mat = _mib_neuron_matrix(doc)
    m1 = 1 + 1 * (CFG["n_heads"] + 1) + CFG["n_heads"]
    expect = {(0, 2): 0.5, (0, 7): 0.5, (m1, 2): 0.25, (m1, 7): 0.5}  # Möbius share: |a(S)| / |S|
    for (row, col), v in expect.items():
        assert mat[row, col] == pytest.approx(v)
    written = ~np.isnan(mat)
    assert written.sum() == 4 and all(written[k] for k in expect)
    cfg = mib_cfg(model)
    with pytest.raises(ValueError, match="coordinate 7 is outside d_model"):
        r.to_mib({**cfg, "d_model": 4}, level="neuron")
    heads = sm.Interactions.from_mobius({(0,): 1.0}, 1, ids=["blocks.0.attn.hook_z[1]"])
    with pytest.raises(ValueError, match="unit 0 .* is not a MIB neuron"):
        heads.to_mib(cfg, level="neuron")
    with pytest.raises(ValueError, match="to level='neuron'"):
        r.to_mib(cfg, level="node")
    with pytest.raises(ValueError, match="level 'edge'"):
        r.to_mib(cfg, level="edge")


def _zero_ablated_value(model, prompts, keep_coords, hook, coords, metric):
    """Game value with the coordinates of ``hook`` not in ``keep_coords`` zeroed, by its own hook."""
    drop = [c for c in coords if c not in keep_coords]

    def fn(act, hook=None):
        act = act.clone()
        act[:, :, drop] = 0.0
        return act

    with torch.inference_mode():
        with model.hooks(fwd_hooks=[(hook, fn)]):
            logits = model(prompts)
    return float(metric(logits[:, -1]).double().mean())


def test_exhaustive_neuron_scores_equal_an_independent_subset_oracle(model, prompts):
    """Exhaustive neuron scores equal Möbius shares from values measured with our own hooks."""
    coords = [0, 3, 4, 9, 12]
    units = MIBNeurons(model, nodes=["m0"], coordinates=coords)
    game = sm.AblationGame(model, units, prompts, sm.metrics.logit_diff(3, 11, position=-1), ablation="zero")
    doc = sm.exhaustive(game).to_mib(mib_cfg(model), level="neuron")
    n = len(coords)
    values = {}
    for keep in itertools.product([0, 1], repeat=n):
        kept = [c for c, k in zip(coords, keep) if k]
        values[keep] = _zero_ablated_value(model, prompts, kept, "blocks.0.hook_mlp_out", coords,
                                           lambda lg: lg[:, 3] - lg[:, 11])
    share = np.zeros(n)
    for s in itertools.product([0, 1], repeat=n):  # Möbius a(S) = Σ_{T ⊆ S} (−1)^{|S|−|T|} v(T)
        members = [i for i in range(n) if s[i]]
        if not members:
            continue
        a = sum((-1) ** (len(members) - sum(t)) * values[t]
                for t in itertools.product([0, 1], repeat=n) if all(t[i] <= s[i] for i in range(n)))
        for i in members:
            share[i] += abs(a) / len(members)
    got = np.array(doc["nodes"]["m0"]["neurons_scores"])[coords]
    np.testing.assert_allclose(got, share, rtol=1e-6, atol=1e-9)
    assert share.max() > 1e-3
    assert np.isnan(np.delete(np.array(doc["nodes"]["m0"]["neurons_scores"]), coords)).all()


def _autograd_oracle(model, tokens, hooks, correct, incorrect, refs=None):
    """Σ_{prompt, position} (act − ref)·∂m/∂act per hook, by plain autograd (ref: given, else the mean)."""
    store = {}

    def keeper(name):
        def keep(act, hook=None):
            act.retain_grad()
            store[name] = act
            return act

        return keep

    with torch.enable_grad():
        with model.hooks(fwd_hooks=[(h, keeper(h)) for h in hooks]):
            logits = model(tokens)
        (logits[:, -1, correct] - logits[:, -1, incorrect]).mean().backward()
    out = {}
    for h in hooks:
        act = store[h].detach()
        ref = refs[h] if refs else act.mean(dim=(0, 1), keepdim=True)  # mean ablation: prompts and positions
        out[h] = ((act - ref) * store[h].grad).sum(dim=(0, 1)).double().numpy()
    model.zero_grad(set_to_none=True)
    return out


def test_attribution_neuron_scores_equal_an_independent_autograd_oracle(model, prompts):
    """Attribution patching per coordinate equals (act − mean)·grad from plain autograd."""
    units = MIBNeurons(model, nodes=["input", "m0", "m1"])
    game = sm.AblationGame(model, units, prompts, sm.metrics.logit_diff(3, 11, position=-1), ablation="mean")
    mine = attribution_scores(game, at="clean")
    hooks = ["hook_embed", "blocks.0.hook_mlp_out", "blocks.1.hook_mlp_out"]
    found = _autograd_oracle(model, prompts, hooks, 3, 11)
    oracle = [found[h] for h in hooks]
    oracle = np.concatenate(oracle)
    np.testing.assert_allclose(mine, oracle, rtol=1e-4, atol=1e-7)
    assert np.abs(oracle).max() > 1e-3
    doc = attribution_patching(game).to_mib(mib_cfg(model), level="neuron", kind="attribution")
    _validate_mib_neurons(doc)
    d = CFG["d_model"]
    for k, node in enumerate(["input", "m0", "m1"]):
        np.testing.assert_allclose(doc["nodes"][node]["neurons_scores"], np.abs(oracle[k * d : (k + 1) * d]),
                                   rtol=1e-4, atol=1e-7)


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    """Boot a random-weight GPT-2 folder with hook_result on (heads' d_model outputs)."""
    pytest.importorskip("transformers")
    from ._hf_folders import boot, gpt2_folder

    model = boot(gpt2_folder(tmp_path_factory.mktemp("gpt2"), n_layer=2, n_embd=16, n_head=4))
    model.set_use_attn_result(True)
    return model


@pytest.mark.parametrize("ablation", ["mean", "resample"])
def test_head_neuron_attribution_equals_autograd_and_sums_to_the_head_score(gpt2, ablation):
    """Per (head, coordinate) scores equal (act − ref)·grad at hook_result; their sum is the head's score."""
    from spex_mech.results.mib_attribution import mib_neuron_attribution

    model = gpt2
    gen = torch.Generator().manual_seed(1)
    clean = torch.randint(3, 300, (3, 7), generator=gen)
    corrupt = torch.randint(3, 300, (3, 7), generator=gen)
    metric = sm.metrics.logit_diff(5, 9, position=-1)
    ref = corrupt if ablation == "resample" else None
    heads = sm.AttentionHeads(model, layers=[1], at="hook_result")
    units = heads + MIBNeurons(model, nodes=["m0"], coordinates=[1, 6])
    game = sm.AblationGame(model, units, clean, metric, ablation=ablation, reference=ref)
    result = mib_neuron_attribution(game)
    d = model.cfg.d_model
    assert result.n == 4 * d + 2
    assert result.ids[0] == "blocks.1.attn.hook_result[:, :, 0, 0]"
    assert result.ids[-1] == "blocks.0.hook_mlp_out[:, :, 6]"
    grads = np.zeros(result.n)
    for units_, v in result.mobius().items():
        if len(units_) == 1:
            grads[units_[0]] = v
    hooks = ["blocks.1.attn.hook_result", "blocks.0.hook_mlp_out"]
    refs = {}
    if ablation == "resample":
        _, cache = model.run_with_cache(corrupt, names_filter=lambda name: name in hooks)
        refs = {h: cache[h] for h in hooks}
    oracle = _autograd_oracle(model, clean, hooks, 5, 9, refs)
    expect = np.concatenate([oracle[hooks[0]].reshape(-1), oracle[hooks[1]][[1, 6]]])
    np.testing.assert_allclose(grads, expect, rtol=1e-4, atol=1e-7)
    assert np.abs(expect).max() > 1e-3
    per_head = attribution_scores(sm.AblationGame(model, heads, clean, metric, ablation=ablation, reference=ref))
    np.testing.assert_allclose(grads[: 4 * d].reshape(4, d).sum(axis=1), per_head, rtol=1e-4, atol=1e-7)
    doc = result.to_mib(mib_cfg(model), level="neuron", kind="attribution")
    _validate_mib_neurons(doc)
    assert set(doc["nodes"]) == {"a1.h0", "a1.h1", "a1.h2", "a1.h3", "m0"}
    mat = _mib_neuron_matrix(doc)
    np.testing.assert_allclose(mat[1 + 1 * 5 + 2], np.abs(oracle[hooks[0]][2]), rtol=1e-4, atol=1e-7)  # a1.h2
    with pytest.raises(ValueError, match="neither a head at hook_result nor a MIB neuron"):
        hook_z = sm.AttentionHeads(model, layers=[0])
        mib_neuron_attribution(sm.AblationGame(model, hook_z, clean, metric, ablation="zero"))
