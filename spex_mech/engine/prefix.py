"""Prefix sharing: which part of the forward pass runs once per prompt instead of once per mask.

Everything before the first masked hook is the same for every mask, so it can run once per prompt and
be copied for each mask at a hook of the first masked block (:func:`sharing_candidates` lists the
ways, most work saved first). The game verifies the chosen way against the plain forward pass; when
none works, :func:`fallback_message` says in words what was switched off and what it costs.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import torch

from ..hooks import EMBED_HOOKS, block_hook, block_layer, hook_tail

__all__ = ["AFTER_BLOCKS", "choose_plan", "fallback_message", "first_masked_layer", "sharing_candidates"]

#: hook prefixes of the modules after the last block: a unit there leaves every block unmasked.
AFTER_BLOCKS = ("ln_final.", "unembed.")

_ATTN_SIDE = frozenset({"attn.hook_z", "attn.hook_result", "hook_attn_out"})
_MLP_SIDE = frozenset({"mlp.hook_pre", "mlp.hook_post", "hook_mlp_out", "hook_resid_post"})


def first_masked_layer(hooks: Sequence[str]) -> Optional[int]:
    """Return the first block a mask acts in, or None when no prefix can be shared.

    Parameters
    ----------
    hooks : sequence of str
        The masked hook names.

    Returns
    -------
    int or None
        The smallest block index among the hooks. None when a hook acts at the embeddings (nothing
        runs before it), when every hook lies after the blocks (:data:`AFTER_BLOCKS`), or when a hook
        is of a kind whose place in the model is unknown.
    """
    layers = []
    for hook in hooks:
        layer = block_layer(hook)
        if layer is not None:
            layers.append(layer)
        elif hook in EMBED_HOOKS or not hook.startswith(AFTER_BLOCKS):
            return None
    return min(layers) if layers else None


def sharing_candidates(
    hooks: Sequence[str], has: Callable[[str], bool], bridge: bool
) -> list[dict[str, Any]]:
    """Return the ways to run the unmasked prefix once per prompt, most work saved first.

    Parameters
    ----------
    hooks : sequence of str
        The masked hook names.
    has : callable
        ``has(name)``: whether the model has that hook point.
    bridge : bool
        Whether the model is a TransformerLens 4 ``TransformerBridge``.

    Returns
    -------
    list of dict
        Each with ``mode`` (``"branch"`` or ``"block"``), ``expand_hook`` (where the stream is copied
        for every mask) and, for ``"branch"``, ``branch_hook`` and ``first_hook``.
    """
    first = first_masked_layer(hooks)
    if first is None:
        return []
    local = {hook_tail(h) for h in hooks if block_layer(h) == first}
    resid_pre = block_hook(first, "hook_resid_pre")
    out: list[dict[str, Any]] = []
    if local & _ATTN_SIDE and local <= _ATTN_SIDE | _MLP_SIDE and has(resid_pre):
        # the first masked layer's attention (QKV, pattern) once per prompt: copies diverge at its first
        # masked hook (hook_z, hook_result or hook_attn_out)
        expanding = tuple(sorted(block_hook(first, h) for h in local & _ATTN_SIDE))
        for branch in (block_hook(first, "ln1.hook_in"), block_hook(first, "ln1.hook_normalized")):
            if has(branch):
                out.append({"mode": "branch", "expand_hook": resid_pre, "branch_hook": branch, "first_hook": expanding})
                break
    # TL 4 bridges tap hook_resid_mid on the MLP branch (the stream added back is not the hooked
    # tensor), so copying there cannot work: skip the candidate rather than spend a pass on it
    resid_mid = block_hook(first, "hook_resid_mid")
    if local and local <= _MLP_SIDE and not bridge and has(resid_mid):
        out.append({"mode": "block", "expand_hook": resid_mid})
    if has(resid_pre):
        out.append({"mode": "block", "expand_hook": resid_pre})
    return out


def fallback_message(key: str, reason: str, *, first: int, n_layers: Optional[int], length: int, k: int) -> str:
    """Say in words what was switched off, what it costs, and why.

    Parameters
    ----------
    key : str
        ``"share_prefix"`` or ``"restrict_unembed"``.
    reason : str
        Why the fast run was refused.
    first : int
        The first masked block.
    n_layers : int or None
        The model's number of blocks, if known.
    length : int
        The prompt length.
    k : int
        The number of positions the metric reads.

    Returns
    -------
    str
        The warning text.
    """
    if key == "share_prefix":
        total = f" of {n_layers}" if n_layers else ""
        return (
            f"spex_mech: prefix sharing is off for this model: every mask re-runs the embeddings and layers "
            f"0..{first - 1} ({first}{total} layers) for every prompt instead of once per prompt, so each "
            f"masked evaluation does that much more work; the shared run failed its exactness check ({reason})"
            if first > 0
            else f"spex_mech: prefix sharing is off for this model: the first masked layer's attention (QKV and "
            f"pattern) runs once per mask instead of once per prompt, so each masked evaluation does that much "
            f"more work; the shared run failed its exactness check ({reason})"
        )
    return (
        f"spex_mech: restricted unembedding is off for this model: the final norm and unembedding run at all "
        f"{length} positions instead of the {k} read position(s) (about {length / k:.0f}x their work "
        f"per masked evaluation); the restricted run failed its exactness check ({reason})"
    )


def choose_plan(
    run: Callable[[Optional[dict[str, Any]], Optional[str]], torch.Tensor],
    shares: Sequence[dict[str, Any]],
    slices: Sequence[str],
) -> tuple[Optional[dict[str, Any]], Optional[str], dict[str, list[str]]]:
    """Pick the first sharing and slicing options whose logits reproduce the plain forward pass.

    Two runs when the preferred plan works (the plain one and the fast one); the other candidates are
    tried only if it does not.

    Parameters
    ----------
    run : callable
        ``run(share, slice_hook)``: the logits of a few test masks with that plan (``None, None``: plain).
    shares : sequence of dict
        Prefix-sharing candidates (:func:`sharing_candidates`), preferred first.
    slices : sequence of str
        Hooks where the read positions may be sliced out before the unembedding, preferred first.

    Returns
    -------
    tuple
        The chosen share (or None), the chosen slice hook (or None), and per option
        (``"share_prefix"``, ``"restrict_unembed"``) why candidates were refused.
    """
    failures: dict[str, list[str]] = {"share_prefix": [], "restrict_unembed": []}
    plain = run(None, None)

    def agrees(share: Optional[dict[str, Any]], slice_hook: Optional[str], key: str) -> bool:
        try:
            fast = run(share, slice_hook)
        except Exception as exc:  # noqa: BLE001 - any failure means: do not use this option
            failures[key].append(f"{type(exc).__name__}: {exc}")
            return False
        ok = fast.shape == plain.shape and bool(
            torch.allclose(fast, plain, rtol=1e-4, atol=1e-4 * (1 + float(plain.abs().max())))
        )
        if not ok:
            failures[key].append("its logits differ from the plain forward pass")
        return ok

    first = (shares[0] if shares else None, slices[0] if slices else None)
    if agrees(*first, key="share_prefix" if shares else "restrict_unembed"):
        return first[0], first[1], failures
    failures["share_prefix"].clear()
    share = next((c for c in shares if agrees(c, None, "share_prefix")), None)
    slice_hook = next((h for h in slices if agrees(share, h, "restrict_unembed")), None)
    return share, slice_hook, failures
