"""Shared fixtures: tiny offline models and an independent reference implementation of masked evaluation."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
warnings.filterwarnings("ignore", category=UserWarning, module="transformer_lens")


def build_tiny(attn_only: bool = False, seed: int = 0, **overrides):
    from spex_mech.zoo._bridge import build_native

    cfg = dict(
        d_model=32,
        d_head=8,
        n_heads=4,
        n_layers=2,
        n_ctx=24,
        d_vocab=40,
        d_mlp=48,
        attn_only=attn_only,
        normalization_type="LN",
        seed=seed,
    )
    cfg.update(overrides)
    model = build_native(cfg)
    # random init has tiny attention effects; scale weights up so ablations visibly matter
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 2:
                p.mul_(3.0)
    return model


@pytest.fixture(scope="session")
def tiny_model():
    return build_tiny(attn_only=False, seed=0)


@pytest.fixture(scope="session")
def tiny_tokens():
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 40, (5, 12), generator=g)


def reference_masked_values(model, tokens, masks, head_units, neuron_units, ablation, ref_tokens, value_fn):
    """Plain TransformerLens usage, one ``run_with_hooks`` per mask (the oracle for the engine).

    head_units: list of (layer, head); neuron_units: list of (layer, neuron); columns follow that order.
    value_fn(full_logits [P, pos, V]) -> per-prompt values [P].
    """
    hooks_needed = sorted(
        {f"blocks.{l}.attn.hook_z" for l, _ in head_units} | {f"blocks.{l}.mlp.hook_post" for l, _ in neuron_units}
    )
    refs = {}
    if ablation != "zero":
        cache = {}

        def save(name):
            def fn(act, hook=None):
                cache[name] = act.detach().clone()

            return fn

        with torch.no_grad():
            model.run_with_hooks(ref_tokens, fwd_hooks=[(h, save(h)) for h in hooks_needed])
        for h in hooks_needed:
            act = cache[h]
            if ablation == "mean":
                refs[h] = act.mean(dim=(0, 1))
            elif ablation == "mean_tokenwise":
                refs[h] = act.mean(dim=0)
            else:
                refs[h] = act  # resample: row-paired
    out = []
    for mask in np.asarray(masks, dtype=bool):
        hooks = []
        for hook_name in hooks_needed:
            cols = []
            if hook_name.endswith("hook_z"):
                layer = int(hook_name.split(".")[1])
                cols = [(c, h) for c, (l, h) in enumerate(head_units) if l == layer]
            else:
                layer = int(hook_name.split(".")[1])
                cols = [(c, i) for c, (l, i) in enumerate(neuron_units, start=len(head_units)) if l == layer]

            def fn(act, hook=None, cols=cols, hook_name=hook_name):
                act = act.clone()
                for col, idx in cols:
                    if mask[col]:
                        continue
                    if ablation == "zero":
                        act[:, :, idx] = 0
                    elif ablation == "mean":
                        act[:, :, idx] = refs[hook_name][idx]
                    elif ablation == "mean_tokenwise":
                        act[:, :, idx] = refs[hook_name][:, idx]
                    else:
                        act[:, :, idx] = refs[hook_name][:, :, idx]
                return act

            hooks.append((hook_name, fn))
        with torch.no_grad():
            logits = model.run_with_hooks(tokens, fwd_hooks=hooks)
        out.append(float(value_fn(logits).double().mean()))
    return np.array(out)


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray (2 CPUs, no dashboard) for the module's tests; shut down after them if this fixture started it."""
    ray = pytest.importorskip("ray")
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    if started:
        ray.shutdown()
