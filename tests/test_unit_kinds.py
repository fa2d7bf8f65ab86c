"""Whole attention layers, whole MLPs, heads at hook_result, residual positions and custom hook units:
each exact against independent per-unit hooks, for every ablation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import spex_mech as sm
from spex_mech import metrics

from ._hf_folders import boot, gpt2_folder, neox_folder
from .conftest import build_tiny

ABLATIONS = ("zero", "mean", "mean_tokenwise", "resample")
ALL = slice(None)


@pytest.fixture(scope="module")
def native():
    return build_tiny(seed=3, n_layers=3)  # boot_native: no hook_result (set_use_attn_result is not implemented)


@pytest.fixture(scope="module", params=["gpt2", "neox"])
def hf(request, tmp_path_factory):
    pytest.importorskip("transformers")
    build = {"gpt2": gpt2_folder, "neox": neox_folder}[request.param]
    model = boot(build(tmp_path_factory.mktemp(request.param), n_layer=3))
    with pytest.raises(ValueError, match=r"call model.set_use_attn_result\(True\) first"):
        sm.AttentionHeads(model, at="hook_result")
    model.set_use_attn_result(True)
    return model


def _kinds(model, with_result: bool):
    """(name, unit set, [(hook, index tuple into the activation)] per unit, in column order)."""
    out = [
        ("attn_layers", sm.AttentionLayers(model), [(f"blocks.{l}.hook_attn_out", (ALL,)) for l in range(3)]),
        ("mlp_layers", sm.MLPLayers(model, layers=[0, 2]), [(f"blocks.{l}.hook_mlp_out", (ALL,)) for l in (0, 2)]),
        (
            "resid_positions",
            sm.ResidualPositions(model, layer=1, positions=[0, 3, 5]),
            [("blocks.1.hook_resid_pre", (ALL, p)) for p in (0, 3, 5)],
        ),
        (
            "hook_groups",
            sm.HookUnits(model, "blocks.0.hook_resid_post", dim=2, groups=[range(0, 8), range(8, 20), [25, 31]]),
            [
                ("blocks.0.hook_resid_post", (ALL, ALL, idx))
                for idx in (list(range(0, 8)), list(range(8, 20)), [25, 31])
            ],
        ),
        (
            "mixed",
            sm.MLPLayers(model, layers=[1])
            + sm.AttentionLayers(model, layers=[2])
            + sm.HookUnits(model, "blocks.0.hook_mlp_out"),
            [("blocks.1.hook_mlp_out", (ALL,)), ("blocks.2.hook_attn_out", (ALL,)), ("blocks.0.hook_mlp_out", (ALL,))],
        ),
    ]
    if with_result:
        out.append(
            (
                "heads_result",
                sm.AttentionHeads(model, layers=[1, 2], at="hook_result"),
                [(f"blocks.{l}.attn.hook_result", (ALL, ALL, h)) for l in (1, 2) for h in range(4)],
            )
        )
    return out


def _oracle(model, tokens, ref_tokens, masks, units, ablation, target):
    """One run_with_hooks per mask; replacements from a separate run_with_cache on the reference."""
    hooks = sorted({h for h, _ in units})
    _, cache = model.run_with_cache(ref_tokens, names_filter=lambda name: name in hooks)
    full = {}
    for h in hooks:
        act = cache[h]
        if ablation == "zero":
            full[h] = torch.zeros_like(act)
        elif ablation == "mean":
            full[h] = act.mean(dim=(0, 1), keepdim=True).expand_as(act)
        elif ablation == "mean_tokenwise":
            full[h] = act.mean(dim=0, keepdim=True).expand_as(act)
        else:
            full[h] = act
    out = []
    for mask in masks:
        fwd = []
        for h in hooks:
            cols = [(c, idx) for c, (hh, idx) in enumerate(units) if hh == h]

            def fn(act, hook=None, cols=cols, h=h, mask=mask):
                act = act.clone()
                for c, idx in cols:
                    if not mask[c]:
                        act[idx] = full[h].expand_as(act)[idx]
                return act

            fwd.append((h, fn))
        with torch.no_grad():
            logits = model.run_with_hooks(tokens, fwd_hooks=fwd)
        out.append(float(torch.log_softmax(logits[:, -1].double(), -1)[:, target].mean()))
    return np.array(out)


def _check(model):
    g = torch.Generator().manual_seed(5)
    vocab = model.cfg.d_vocab
    toks = torch.randint(1, min(vocab, 300), (3, 8), generator=g)
    corrupt = torch.randint(1, min(vocab, 300), (3, 8), generator=g)
    for name, units, spec in _kinds(model, with_result=getattr(model.cfg, "use_attn_result", False)):
        assert len(units) == len(spec)
        masks = np.random.default_rng(0).random((6, len(units))) < 0.5
        masks[0] = True
        masks[1] = False
        for ablation in ABLATIONS:
            ref = corrupt if ablation in ("resample", "mean", "mean_tokenwise") else None
            game = sm.AblationGame(model, units, toks, metrics.logprob(target=3), ablation=ablation, reference=ref)
            want = _oracle(model, toks, corrupt if ref is not None else toks, masks, spec, ablation, 3)
            np.testing.assert_allclose(game(masks), want, rtol=1e-5, atol=1e-5, err_msg=f"{name} {ablation}")
            if ablation != "zero":
                assert np.ptp(want) > 1e-4, (name, ablation)  # the masks matter


def test_new_unit_kinds_native(native):
    _check(native)


def test_new_unit_kinds_hf(hf):
    assert hf.cfg.use_attn_result  # heads at hook_result are among the kinds checked
    _check(hf)


def test_ids_labels_and_sharing(hf):
    units = sm.AttentionLayers(hf, layers=[1]) + sm.ResidualPositions(hf, 2, [1, 4])
    assert units.ids == ["blocks.1.hook_attn_out", "blocks.2.hook_resid_pre[:, 1]", "blocks.2.hook_resid_pre[:, 4]"]
    assert units.labels == ["L1A", "L2P1", "L2P4"]
    heads = sm.AttentionHeads(hf, layers=[0], at="hook_result")
    assert heads.ids[0] == "blocks.0.attn.hook_result[0]" and heads.labels[0] == "L0H0"
    toks = torch.randint(1, 300, (2, 7), generator=torch.Generator().manual_seed(0))
    for u in (
        sm.AttentionLayers(hf, layers=[2]),
        sm.MLPLayers(hf, layers=[1]),
        sm.AttentionHeads(hf, layers=[2], at="hook_result"),
    ):
        game = sm.AblationGame(hf, u, toks, metrics.logprob(target=3))
        assert game.plan["share_prefix"] and game.plan["restrict_unembed"], game.plan


def test_bad_custom_units_are_refused(native):
    with pytest.raises(ValueError, match="no hook point named"):
        sm.HookUnits(native, "blocks.0.hook_nope")
    with pytest.raises(ValueError, match="index 99 is outside dim 2"):
        sm.HookUnits(native, "blocks.0.hook_resid_post", dim=2, groups=[[1, 99]])
    with pytest.raises(ValueError, match="share an index"):
        sm.HookUnits(native, "blocks.0.hook_resid_post", dim=2, groups=[[1, 2], [2, 3]])
    with pytest.raises(ValueError, match="groups= needs dim="):
        sm.HookUnits(native, "blocks.0.hook_resid_post", groups=[[1]])
    with pytest.raises(ValueError, match="must be ≥ 0"):
        sm.ResidualPositions(native, 0, [-1])
    units = sm.ResidualPositions(native, 0, [2, 30])
    with pytest.raises(ValueError, match="address position 30, but the longest prompt has 8 tokens"):
        sm.AblationGame(native, units, torch.ones((2, 8), dtype=torch.long), metrics.logprob(target=3))
    with pytest.raises(ValueError, match="at one of"):
        sm.AttentionHeads(native, at="hook_q")


def test_hook_unit_ids_index_every_dimension(native):
    """An id writes the batch dimension too, so a d_model group never reads as a position (and vice versa)."""
    coords = sm.HookUnits(native, "blocks.1.hook_resid_pre", dim=2, groups=[[3], range(4, 8)])
    assert coords.ids == ["blocks.1.hook_resid_pre[:, :, 3]", "blocks.1.hook_resid_pre[:, :, 4:8]"]
    positions = sm.HookUnits(native, "blocks.1.hook_resid_pre", dim=1, groups=[[3]])
    assert positions.ids == sm.ResidualPositions(native, 1, [3]).ids == ["blocks.1.hook_resid_pre[:, 3]"]
    assert not set(coords.ids) & set(positions.ids)
