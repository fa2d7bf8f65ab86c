"""The engine on a TransformerLens 2.x ``HookedTransformer``, checked against per-mask hooks.

Run by ``tests/test_tl2.py`` inside its own environment (``.cache/tl2-venv``: transformer-lens 2.x
cannot share an environment with 4.x), with ``PYTHONPATH`` pointing at the repository. Exits non-zero
on any mismatch and prints one JSON summary line on stdout (the test reads it).

The oracle is written here, independently of the engine: references from ``run_with_cache``, then
one ``run_with_hooks`` per mask that overwrites each ablated slice in place, token units as edited
input ids, and metrics computed from the full logits with ``log_softmax``.
"""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np
import torch

warnings.filterwarnings("ignore", category=UserWarning, module="transformer_lens")

HEADS = [(0, 0), (0, 2), (0, 3), (1, 0), (1, 1), (1, 3)]
NEURONS = [(1, 2), (1, 5), (1, 11), (1, 30)]
TOKEN_SPANS = [(1, 3), (4,), (6, 8)]  # position tuples; each is one unit
BASELINE_ID = 0


def build_model():
    import transformer_lens
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    if not transformer_lens.__file__ or not isinstance(HookedTransformer, type):
        raise SystemExit("transformer_lens did not import a HookedTransformer class")
    cfg = HookedTransformerConfig(
        n_layers=2,
        d_model=32,
        d_head=8,
        n_heads=4,
        d_mlp=48,
        d_vocab=50,
        n_ctx=16,
        act_fn="gelu",
        normalization_type="LN",
        seed=0,
    )
    model = HookedTransformer(cfg)
    with torch.no_grad():  # random init barely moves the output; larger weights make ablations matter
        for p in model.parameters():
            if p.ndim >= 2:
                p.mul_(3.0)
    model.eval()
    return model


def oracle_references(model, ref_tokens, hooks, ablation):
    """Replacement activations per hook, from one plain ``run_with_cache`` on the reference prompts."""
    if ablation == "zero":
        return {}
    with torch.no_grad():
        _, cache = model.run_with_cache(ref_tokens, names_filter=lambda name: name in hooks)
    out = {}
    for h in hooks:
        act = cache[h]
        if ablation == "mean":
            out[h] = act.mean(dim=(0, 1))  # [*rest]
        elif ablation == "mean_tokenwise":
            out[h] = act.mean(dim=0)  # [pos, *rest]
        else:
            out[h] = act  # resample: [P, pos, *rest], paired row for row
    return out


def unit_hooks(heads, neurons):
    return {f"blocks.{l}.attn.hook_z" for l, _ in heads} | {f"blocks.{l}.mlp.hook_post" for l, _ in neurons}


def ragged_mean_references(model, prompts, hooks):
    """Mean activation over every real position of prompts of different lengths, each run alone."""
    acts = {h: [] for h in hooks}
    with torch.no_grad():
        for row in prompts:
            _, cache = model.run_with_cache(torch.tensor([row]), names_filter=lambda name: name in hooks)
            for h in hooks:
                acts[h].append(cache[h][0])  # [pos, *rest]
    return {h: torch.cat(parts, dim=0).mean(dim=0) for h, parts in acts.items()}


def oracle_values(model, tokens, masks, heads, neurons, token_spans, ablation, refs, value_fn):
    """One ``run_with_hooks`` per mask; columns are heads, then neurons, then token spans.

    ``refs``: replacement activations per hook (from :func:`oracle_references`; unused for zero).
    """
    columns = [("z", l, i) for l, i in heads] + [("post", l, i) for l, i in neurons]
    out = []
    for mask in np.asarray(masks, dtype=bool):
        run_tokens = tokens.clone()
        for j, span in enumerate(token_spans):
            if not mask[len(columns) + j]:
                run_tokens[:, list(span)] = BASELINE_ID
        fwd_hooks = []
        for col, (kind, layer, idx) in enumerate(columns):
            if mask[col]:
                continue
            name = f"blocks.{layer}.attn.hook_z" if kind == "z" else f"blocks.{layer}.mlp.hook_post"

            def fn(act, hook=None, name=name, idx=idx):
                if ablation == "zero":
                    act[:, :, idx] = 0.0
                elif ablation == "mean":
                    act[:, :, idx] = refs[name][idx]
                elif ablation == "mean_tokenwise":
                    act[:, :, idx] = refs[name][:, idx]
                else:
                    act[:, :, idx] = refs[name][:, :, idx]
                return act

            fwd_hooks.append((name, fn))
        with torch.no_grad():
            logits = model.run_with_hooks(run_tokens, fwd_hooks=fwd_hooks)
        out.append(float(value_fn(logits).double().mean()))
    return np.array(out)


def oracle_whole_values(model, tokens, masks, hooks, ablation, ref_tokens, value_fn):
    """Whole-activation units (one column per hook, e.g. ``hook_attn_out``): one ``run_with_hooks`` per mask."""
    refs = {}
    if ablation == "mean":
        with torch.no_grad():
            _, cache = model.run_with_cache(ref_tokens, names_filter=lambda name: name in hooks)
        refs = {h: cache[h].mean(dim=(0, 1)) for h in hooks}
    out = []
    for mask in np.asarray(masks, dtype=bool):
        fwd_hooks = []
        for col, name in enumerate(hooks):
            if mask[col]:
                continue

            def fn(act, hook=None, name=name):
                act[:] = 0.0 if ablation == "zero" else refs[name]
                return act

            fwd_hooks.append((name, fn))
        with torch.no_grad():
            logits = model.run_with_hooks(tokens, fwd_hooks=fwd_hooks)
        out.append(float(value_fn(logits).double().mean()))
    return np.array(out)


def logprob_of(targets, position):
    def value(logits):
        lp = torch.log_softmax(logits[:, position].double(), dim=-1)
        return lp[torch.arange(lp.shape[0]), targets]

    return value


def logit_diff_of(correct, incorrect, position):
    def value(logits):
        at = logits[:, position].double()
        rows = torch.arange(at.shape[0])
        return at[rows, correct] - at[rows, incorrect]

    return value


def compare(name, got, want, failures, record):
    err = float(np.max(np.abs(got - want) / (1e-5 + np.abs(want))))
    record.append({"case": name, "max_rel_err": err, "spread": float(np.ptp(want)), "n_masks": len(want)})
    if not np.allclose(got, want, rtol=1e-5, atol=1e-5):
        failures.append(f"{name}: engine {np.round(got, 6).tolist()} vs oracle {np.round(want, 6).tolist()}")


def main() -> int:
    import transformer_lens

    import spex_mech as sm
    from spex_mech import metrics
    from spex_mech.units.tokens import TokenUnits

    model = build_model()
    gen = torch.Generator().manual_seed(1)
    tokens = torch.randint(1, 50, (4, 10), generator=gen)
    reference = torch.randint(1, 50, (6, 10), generator=gen)
    corrupted = torch.randint(1, 50, (4, 10), generator=gen)
    targets = torch.randint(0, 50, (4,), generator=gen)
    wrong = (targets + 7) % 50
    rng = np.random.default_rng(0)
    failures: list[str] = []
    record: list[dict] = []
    plans = {}

    # heads and neurons, every ablation, through the public entry points
    units = sm.AttentionHeads(model, heads={l: [h for ll, h in HEADS if ll == l] for l in (0, 1)})
    units = units + sm.MLPNeurons(model, 1, neurons=[i for _, i in NEURONS])
    n = len(units)
    masks = np.vstack([np.ones(n, bool), np.zeros(n, bool), rng.random((10, n)) < 0.5])
    for ablation in ("zero", "mean", "mean_tokenwise", "resample"):
        ref = corrupted if ablation == "resample" else reference
        game = sm.AblationGame(
            model,
            units,
            tokens,
            metrics.logprob(target=targets.tolist(), position=-2),
            ablation=ablation,
            reference=ref,
        )
        plans[f"components/{ablation}"] = {k: game.plan[k] for k in ("share_prefix", "restrict_unembed")}
        refs = oracle_references(model, ref, unit_hooks(HEADS, NEURONS), ablation)
        want = oracle_values(model, tokens, masks, HEADS, NEURONS, [], ablation, refs, logprob_of(targets, -2))
        compare(f"components/{ablation}", game(masks), want, failures, record)

    # token units plus heads in one game, a logit difference at the last position
    token_units = TokenUnits(model, tokens, spans=[list(s) for s in TOKEN_SPANS], mask=BASELINE_ID, decode=str)
    combined = token_units + sm.AttentionHeads(model, layers=[1], heads=[0, 1, 3])
    n = len(combined)
    masks = np.vstack([np.ones(n, bool), np.zeros(n, bool), rng.random((10, n)) < 0.5])
    game = sm.AblationGame(
        model,
        combined,
        tokens,
        metrics.logit_diff(targets.tolist(), wrong.tolist(), position=-1),
        ablation="mean",
        reference=reference,
    )
    # the oracle's column order is heads then tokens; the game's is tokens then heads
    order = list(range(len(TOKEN_SPANS), n)) + list(range(len(TOKEN_SPANS)))
    refs = oracle_references(model, reference, unit_hooks([(1, 0)], []), "mean")
    want = oracle_values(
        model, tokens, masks[:, order], [(1, 0), (1, 1), (1, 3)], [], TOKEN_SPANS, "mean", refs,
        logit_diff_of(targets, wrong, -1),
    )
    compare("tokens+heads/mean", game(masks), want, failures, record)

    # whole attention layers and whole MLPs (hook_attn_out, hook_mlp_out)
    layers = sm.AttentionLayers(model) + sm.MLPLayers(model)
    hooks = [f"blocks.{l}.hook_attn_out" for l in (0, 1)] + [f"blocks.{l}.hook_mlp_out" for l in (0, 1)]
    masks = np.array([[(i >> j) & 1 for j in range(4)] for i in range(16)], dtype=bool)  # all 16 masks
    for ablation in ("zero", "mean"):
        game = sm.AblationGame(
            model,
            layers,
            tokens,
            metrics.logprob(target=targets.tolist(), position=-2),
            ablation=ablation,
            reference=reference,
        )
        want = oracle_whole_values(model, tokens, masks, hooks, ablation, reference, logprob_of(targets, -2))
        compare(f"layers/{ablation}", game(masks), want, failures, record)

    # prompts of different lengths (ragged id lists): each prompt as if it ran alone, read at its own last
    # token; the mean reference (the prompts themselves) averages real positions only
    ragged = [tokens[0].tolist(), tokens[1, :7].tolist(), tokens[2, :5].tolist()]
    n = len(units)
    masks = np.vstack([np.ones(n, bool), np.zeros(n, bool), rng.random((10, n)) < 0.5])
    for ablation in ("zero", "mean"):
        game = sm.AblationGame(model, units, ragged, metrics.logprob(target=targets[:3].tolist()), ablation=ablation)
        refs = ragged_mean_references(model, ragged, unit_hooks(HEADS, NEURONS)) if ablation == "mean" else {}
        alone = [
            oracle_values(
                model,
                torch.tensor([row]),
                masks,
                HEADS,
                NEURONS,
                [],
                ablation,
                refs,
                logprob_of(targets[i : i + 1], -1),
            )
            for i, row in enumerate(ragged)
        ]
        compare(f"ragged/{ablation}", game(masks), np.mean(alone, axis=0), failures, record)

    summary = {
        "transformer_lens": getattr(transformer_lens, "__version__", None) or _dist_version("transformer-lens"),
        "model_class": f"{type(model).__module__}.{type(model).__name__}",
        "spex_mech_file": sm.__file__,
        "torch": torch.__version__,
        "plans": plans,
        "cases": record,
        "failures": failures,
    }
    print(json.dumps(summary))
    return 1 if failures else 0


def _dist_version(name: str):
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    sys.exit(main())
