"""`AblationGame`: the batched masked-evaluation engine, f(masks[B, n]) -> values[B].

Each mask row ablates its own units. Masks × prompts are flattened into one batch (mask-major: row
``m·P + p`` is mask ``m`` on prompt ``p``) and chunked to a memory budget. Two exact savings:

* **prefix sharing**: everything before the first masked hook runs once per prompt. For head units
  (or whole attention layers) the copies diverge at ``hook_z`` / ``hook_result`` / ``hook_attn_out``
  itself (the residual stream is expanded at ``hook_resid_pre`` and the attention branch reads one copy
  per prompt), otherwise at the first masked block. On Hugging Face bridges the attention's side
  inputs (attention mask, rotary cos/sin) are copied with the stream (:mod:`.sharing`);
* **restricted unembedding**: only the positions the metric reads reach the unembedding.

Both are checked against the plain forward pass when the game is built (``"auto"``) and switched off
with a warning saying what was switched off and what it costs if the model does not allow them (e.g.
a model whose blocks take batch-shaped side inputs the engine does not know).

Prompts are left-aligned (:mod:`spex_mech.prompts`): every prompt runs as if alone, padding is never
read.

The module is about 480 lines, one class: what is left here is the game's state and the passes that
read it (set-up checks, clean and masked forward passes, the evaluation loop with its probe and
out-of-memory retry); hook groups, prefix sharing, the starting row budget and ablation references live
in :mod:`spex_mech.engine` (``hookgroups``, ``prefix``, ``rowplan``, ``ablations``).
"""

from __future__ import annotations

import contextlib
import copy
import math
import warnings
from dataclasses import replace
from typing import Any, Optional, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..runtime import interactive, model_device
from ..hooks import hook_layer
from ..units.base import Site, UnitSet, model_dims, model_hook_names
from ..valuefn import PackedMasks, check_values, to_mask_array
from ..capture import eval_mode, run_with_fwd_hooks
from ..engine.ablations import ABLATIONS, reference_activations
from ..engine.hookgroups import HookGroup, build_groups, mask_hook, merge_sites, token_plan
from ..engine.precision import check_precision, reduced_precision
from ..engine.prefix import choose_plan, fallback_message, first_masked_layer, sharing_candidates
from ..engine.rowbudget import MIN_PROBE_ROWS, RowBudget, measure, rows_for
from ..engine.rowplan import initial_row_budget
from ..engine.sharing import attention_modules, expand_side_inputs
from ..metrics import Metric, as_metric
from ..prompts import Prompts, prepare_prompts, single_token_id

__all__ = ["AblationGame"]

_SLICE_HOOKS = ("unembed.hook_in", "ln_final.hook_out", "ln_final.hook_normalized")


class AblationGame:
    """Value function over maskable units of a model: ``game(masks) -> values``.

    Parameters
    ----------
    model : Any
        TransformerLens model (``TransformerBridge`` 4.x, ``HookedTransformer`` 2.x) or anything with
        the same hook names and ``hooks()`` / ``run_with_hooks``.
    units : UnitSet
        A :class:`~spex_mech.units.UnitSet` (``AttentionHeads``, ``MLPNeurons``, ``TokenUnits``, or a sum).
    tokens : Any
        Prompts: strings (of any lengths, if the model has a tokenizer), ids [P, pos] padded on the
        tokenizer's padding side, ragged id lists, or a :class:`~spex_mech.engine.prompts.Prompts`. Every
        prompt is evaluated as if it ran alone: padding is never read, attended to or averaged.
    metric : Any
        A :mod:`spex_mech.metrics` metric, or a callable on logits ``[mask, prompt, k, d_vocab]``.
    ablation : str, default "mean"
        ``"mean"``, ``"zero"``, ``"mean_tokenwise"`` or ``"resample"``.
    reference : Any, optional
        Reference prompts for mean ablation (default: the prompts themselves) or the
        corrupted prompts, row-paired with ``tokens``, for resample ablation.
    batch_size : int or str, default "auto"
        Rows (masks × prompts) per forward pass, or ``"auto"``: measured on first use (the first
        pass's memory peak gives the bytes per row, see :mod:`spex_mech.engine.rowbudget`); ``row_budget``
        says how the rows were chosen. Values do not depend on it.
    device : str or torch.device, optional
        Where to run; defaults to the model's device (it must be of the same type).
    progress : bool, optional
        Show a tqdm bar (``None``: only for long calls on a terminal).
    share_prefix : bool or str, default "auto"
        Run everything before the first masked hook once per prompt: ``"auto"`` (verify, then use),
        ``True`` (an error if it cannot be used) or ``False``.
    restrict_unembed : bool or str, default "auto"
        Unembed only the positions the metric reads: ``"auto"`` (verify, then use), ``True`` (an error
        if it cannot be used) or ``False``.
    attention_mask : Any, optional
        Optional 0/1 ``[P, pos]`` mask for id prompts (1 = real token), instead of
        recognising pad ids.
    precision : str, default "fp32"
        ``"fp32"`` (exact), or opt-in reduced precision for the masked passes
        (:mod:`.precision`): ``"tf32"`` (CUDA TF32 matmuls) or ``"bf16"`` (bfloat16 autocast, CPU or
        CUDA). The clean run, the ablation references and the metric stay float32;
        ``clean_value`` is the float32 clean metric.

    Raises
    ------
    TypeError
        If ``units`` is not a :class:`~spex_mech.units.UnitSet`.
    ValueError
        On an empty unit set, an unknown ablation, a device of another type than the model's, token ids
        outside the vocabulary, a missing hook point, ``resample`` without ``reference``,
        ``share_prefix=True`` / ``restrict_unembed=True`` that cannot be honoured, or a clean metric that
        is not finite.

    Examples
    --------
    >>> game = AblationGame(model, AttentionHeads(model), tokens, metrics.logprob(position=-2))
    >>> game(np.ones((1, game.n)))          # the clean metric
    """

    #: SPEX hands this game bit-packed masks (:class:`~spex_mech.valuefn.PackedMasks`); each forward
    #: pass unpacks only its own rows.
    accepts_packed = True

    def __init__(
        self,
        model: Any,
        units: UnitSet,
        tokens: Any,
        metric: Any,
        *,
        ablation: str = "mean",
        reference: Any = None,
        batch_size: int | str = "auto",
        device: Optional[str | torch.device] = None,
        progress: Optional[bool] = None,
        share_prefix: bool | str = "auto",
        restrict_unembed: bool | str = "auto",
        attention_mask: Any = None,
        precision: str = "fp32",
    ):
        if not isinstance(units, UnitSet):
            raise TypeError(f"units must be a UnitSet (AttentionHeads, MLPNeurons, ...), got {type(units).__name__}")
        if len(units) == 0:
            raise ValueError("the unit set is empty")
        if ablation not in ABLATIONS:
            raise ValueError(f"unknown ablation {ablation!r}; choose one of {', '.join(ABLATIONS)}")
        self.model = model
        self.units = units
        self.n = len(units)
        self.ids = list(units.ids)
        self.labels = list(units.labels)
        self.ablation = ablation
        self.progress = progress
        self.n_evaluations = 0
        self.precision = check_precision(precision)

        weights_device = model_device(model)
        self.device = torch.device(device) if device is not None else weights_device
        if self.device.type != weights_device.type:
            raise ValueError(f"the model is on {weights_device} but device={self.device}; move the model first")
        check_precision(self.precision, self.device)

        self.prompts: Prompts = prepare_prompts(model, tokens, attention_mask=attention_mask).to(self.device)
        self.tokens = self.prompts.tokens
        self.lengths = self.prompts.lengths
        self.n_prompts, self.length = self.tokens.shape
        self.dims = model_dims(model)
        self._check_token_range(self.tokens, "tokens")
        self._check_causal(self.prompts, "tokens")

        self.metric: Metric = copy.deepcopy(as_metric(metric))
        self.metric.bind(
            self.tokens.cpu(), self.lengths.cpu(), lambda answer: single_token_id(model, answer, self.metric.name)
        )
        self.metric.to(self.device)
        if self.dims["d_vocab"] is not None:
            self.metric.check_vocab(self.dims["d_vocab"])

        self._batch_size = batch_size
        self.row_budget = initial_row_budget(
            batch_size, self.dims, self.length, int(self.metric.positions.shape[1]), self.device
        )
        self.rows_per_pass = self.row_budget.rows
        self._probed = False

        hook_names = model_hook_names(model)
        for site in units.sites:
            if hook_names is not None and site.hook not in hook_names:
                raise ValueError(f"the model has no hook point named {site.hook!r} (needed by the unit set)")
        ref = None
        if reference is not None:
            ref = prepare_prompts(model, reference, what="reference").to(self.device)
            self._check_token_range(ref.tokens, "reference")
            self._check_causal(ref, "reference")
        self.reference_prompts: Optional[Prompts] = ref
        self.groups = self._build_groups(units.sites, ref)
        self.token_sites = list(units.token_sites)
        self._token_plan = token_plan(self.token_sites, self.length, self.device, self._check_token_range)

        # the plan: what is shared and what is restricted, verified against the plain forward below
        has = (lambda h: True) if hook_names is None else (lambda h: h in hook_names)
        bridge = type(model).__name__ == "TransformerBridge"
        hooks = [g.hook for g in self.groups]
        self._share_candidates = [] if self.token_sites else sharing_candidates(hooks, has, bridge)
        slice_candidates = [h for h in _SLICE_HOOKS if hook_names is None or h in hook_names]
        if hook_names is None:
            slice_candidates = []
        if share_prefix is True and not self._share_candidates:
            raise ValueError("share_prefix=True, but no prefix can be shared (token units, or no hook_resid_pre)")
        if restrict_unembed is True and not slice_candidates:
            raise ValueError(f"restrict_unembed=True, but the model has none of the hooks {_SLICE_HOOKS}")
        self._slice_candidates = slice_candidates if restrict_unembed else []
        if not share_prefix:
            self._share_candidates = []
        self.plan: dict[str, Any] = {
            "share": None,
            "slice_hook": None,
            "share_prefix": False,
            "restrict_unembed": False,
            "rows_per_pass": self.rows_per_pass,
        }

        clean = self._clean_logits
        if clean is None:
            with torch.inference_mode(), self._eval_mode():
                clean = self._plain_logits(self.tokens)
        self._clean_logits = None
        self.metric.set_clean(clean)
        with torch.inference_mode():
            self.clean_value = float(self.metric(clean[None]).double().mean())
        if not math.isfinite(self.clean_value):
            raise ValueError(f"the metric is not finite on the clean model ({self.clean_value})")
        self._verify_plan(share_prefix, restrict_unembed)

    # ------------------------------------------------------------------ set-up helpers
    def _check_token_range(self, tokens: torch.Tensor, what: str) -> None:
        vocab = self.dims.get("d_vocab")
        if vocab is not None and tokens.numel() and (int(tokens.max()) >= vocab or int(tokens.min()) < 0):
            raise ValueError(f"{what} contain ids outside the vocabulary [0, {vocab})")

    def _check_causal(self, prompts: Prompts, what: str) -> None:
        direction = getattr(getattr(self.model, "cfg", None), "attention_dir", "causal")
        if prompts.ragged and direction not in (None, "causal"):
            raise ValueError(
                f"{what} have different lengths, but the model's attention is {direction!r}: padding would be "
                "attended to; pass prompts of equal length"
            )

    def _shrink_rows(self, rows: int) -> None:
        """After an out-of-memory error: fewer rows per pass from now on."""
        if torch.cuda.is_initialized():
            torch.cuda.empty_cache()
        self.row_budget = replace(self.row_budget, rows=rows)
        self.rows_per_pass = self.plan["rows_per_pass"] = rows
        warnings.warn(f"spex_mech: out of GPU memory; {rows} rows per forward pass from now on", stacklevel=3)

    def _measure_pass(self, chunk: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """One masked pass whose memory peak sets the rows per pass from now on (:mod:`.rowbudget`)."""
        run = lambda: self._masked_logits(chunk, idx, self.plan["share"], self.plan["slice_hook"])  # noqa: E731
        try:
            logits, peak, source = measure(self.device, run)
        except torch.cuda.OutOfMemoryError:
            raise
        except Exception:  # noqa: BLE001 - the meter must not change behaviour: run unmeasured (re-raises real errors)
            return run()
        rows = chunk.shape[0] * self.n_prompts
        if peak is not None and peak > 0:
            est = self.row_budget
            per_row = peak / rows
            self.row_budget = RowBudget(
                rows=rows_for(per_row, est.budget_bytes, est.speed_cap),
                bytes_per_row=per_row,
                budget_bytes=est.budget_bytes,
                source=source,
                probe_rows=rows,
                probe_peak_bytes=int(peak),
                speed_cap=est.speed_cap,
            )
            self.rows_per_pass = self.plan["rows_per_pass"] = self.row_budget.rows
        return logits

    def _build_groups(self, sites: Sequence[Site], ref: Optional[Prompts]) -> list[HookGroup]:
        merged = merge_sites(sites, self.length)
        need = [h for h, e in merged.items() if (e["ablation"] or self.ablation) != "zero"]
        refs = {}
        self._clean_logits = None
        if need:
            captured = None
            with torch.inference_mode(), self._eval_mode():
                if ref is None and self.ablation in ("mean", "mean_tokenwise"):
                    # the reference is the prompts themselves: record it during the clean pass
                    captured = {h: [] for h in dict.fromkeys(need)}
                    self._clean_logits = self._plain_logits(self.tokens, captured)
                refs = reference_activations(
                    self.model,
                    need,
                    self.ablation,
                    self.tokens,
                    None if ref is None else ref.tokens,
                    self.rows_per_pass,
                    lengths=self.lengths,
                    ref_lengths=None if ref is None else ref.lengths,
                    captured=captured,
                )
        elif self.ablation == "resample" and ref is None:
            raise ValueError("ablation='resample' needs reference= corrupted prompts paired with the clean ones")
        return build_groups(merged, refs, self.ablation, self.device)

    def _eval_mode(self) -> contextlib.AbstractContextManager:
        return eval_mode(self.model)

    # ------------------------------------------------------------------ forward passes
    def _gather_positions(self, logits: torch.Tensor, prompt_idx: torch.Tensor) -> torch.Tensor:
        """Full logits [R, pos, V] → logits at the metric's read positions [R, k, V]."""
        pos = self.metric.positions[prompt_idx]
        return torch.gather(logits, 1, pos[..., None].expand(-1, -1, logits.shape[-1]))

    def _plain_logits(
        self, tokens: torch.Tensor, capture: Optional[dict[str, list[torch.Tensor]]] = None
    ) -> torch.Tensor:
        """Clean logits at the read positions [P, k, V], from ordinary forward passes.

        ``capture``: hook name → list, filled with that hook's activations, pass by pass.
        """
        out = []
        step = max(1, self.rows_per_pass)

        def record(name: str):
            def fn(act: torch.Tensor, hook: Any = None) -> None:
                capture[name].append(act.detach())

            return fn

        hooks = [(h, record(h)) for h in capture] if capture else []
        for start in range(0, tokens.shape[0], step):
            chunk = tokens[start : start + step]
            logits = run_with_fwd_hooks(self.model, chunk, hooks) if hooks else self.model(chunk)
            idx = torch.arange(start, start + chunk.shape[0], device=self.device)
            out.append(self._gather_positions(logits, idx))
        return torch.cat(out, dim=0)

    def _masked_logits(
        self, masks: torch.Tensor, prompt_idx: torch.Tensor, share: Optional[dict], slice_hook: Optional[str]
    ) -> torch.Tensor:
        """Logits at the read positions [M, P', k, V] for bool masks [M, n] on prompts ``prompt_idx``."""
        n_masks = masks.shape[0]
        n_prompts = prompt_idx.shape[0]
        tokens = self.tokens[prompt_idx]
        first_hooks = share.get("first_hook", ()) if share else ()
        hooks: list[tuple[str, Any]] = []
        for group in self.groups:
            keep = torch.ones((n_masks, group.size), dtype=torch.bool, device=self.device)
            keep[:, group.slices] = masks[:, group.columns]
            if group.reference is not None and group.reference.shape[1] != 1:  # per-prompt (resample)
                group = HookGroup(**{**group.__dict__, "reference": group.reference[:, prompt_idx]})
            hooks.append((group.hook, mask_hook(group, keep, n_masks, n_prompts, expand=group.hook in first_hooks)))
        rows_prompt = prompt_idx.repeat(n_masks)

        def expand(act: torch.Tensor, hook: Any = None) -> torch.Tensor:
            return act.repeat(n_masks, *([1] * (act.ndim - 1)))

        def one_copy(act: torch.Tensor, hook: Any = None) -> torch.Tensor:
            return act[:n_prompts]  # every copy is identical before the first masked hook

        if self._token_plan:
            rows = tokens.repeat(n_masks, 1).reshape(n_masks, n_prompts, -1)
            for pos, cols, base in self._token_plan:
                keep = masks[:, cols][:, None, :]
                cur = rows[:, :, pos]
                rows[:, :, pos] = torch.where(keep, cur, base.expand_as(cur))
            model_input = rows.reshape(n_masks * n_prompts, -1)
        elif share is not None:
            model_input = tokens
            hooks.insert(0, (share["expand_hook"], expand))
            if share["mode"] == "branch":
                hooks.insert(1, (share["branch_hook"], one_copy))
        else:
            model_input = tokens.repeat(n_masks, 1)
        if slice_hook is not None:
            pos = self.metric.positions[rows_prompt]

            def take(act: torch.Tensor, hook: Any = None) -> torch.Tensor:
                return torch.gather(act, 1, pos[..., None].expand(-1, -1, act.shape[-1]))

            hooks.append((slice_hook, take))
        side = attention_modules(self.model, hook_layer(share["expand_hook"])) if share is not None else []
        with expand_side_inputs(side, n_prompts, n_masks):
            logits = run_with_fwd_hooks(self.model, model_input, hooks)
        if slice_hook is None:
            logits = self._gather_positions(logits, rows_prompt)
        return logits.reshape(n_masks, n_prompts, *logits.shape[1:])

    def _verify_plan(self, share_prefix: bool | str, restrict_unembed: bool | str) -> None:
        """Pick the first sharing and slicing options that reproduce the plain forward on three masks.

        Two small passes when the preferred plan works (the plain run and the fast run); other
        candidates are tried only if it does not.
        """
        if not (self._share_candidates or self._slice_candidates):
            return
        rng = np.random.default_rng(12345)
        test = np.ones((3, self.n), dtype=bool)
        test[1] = rng.random(self.n) < 0.5
        test[2] = ~test[1]
        masks = torch.from_numpy(test).to(self.device)
        idx = torch.arange(min(self.n_prompts, 4), device=self.device)
        shares, slices = self._share_candidates, self._slice_candidates
        with torch.inference_mode(), self._eval_mode():
            share, slice_hook, failures = choose_plan(
                lambda share, hook: self._masked_logits(masks, idx, share, hook), shares, slices
            )
        self.plan["share"], self.plan["slice_hook"] = share, slice_hook
        self.plan["share_prefix"] = self.plan["share"] is not None
        self.plan["restrict_unembed"] = self.plan["slice_hook"] is not None
        for key, wanted, got, tried in (
            ("share_prefix", share_prefix, self.plan["share"], shares),
            ("restrict_unembed", restrict_unembed, self.plan["slice_hook"], slices),
        ):
            if got is not None or not wanted or not tried:
                continue
            reason = "; ".join(dict.fromkeys(failures[key])) or "it did not reproduce the plain forward pass"
            message = fallback_message(
                key,
                reason,
                first=first_masked_layer([g.hook for g in self.groups]) or 0,
                n_layers=self.dims.get("n_layers"),
                length=self.length,
                k=int(self.metric.positions.shape[1]),
            )
            if wanted is True:
                raise ValueError(message)
            warnings.warn(message, stacklevel=3)

    # ------------------------------------------------------------------ the value function
    def provenance(self) -> dict[str, Any]:
        """Return what a result carries from this game: unit labels, ids, evaluations so far.

        Returns
        -------
        dict
            ``labels``, ``ids`` and ``n_evaluations``.
        """
        return {"labels": self.labels, "ids": self.ids, "n_evaluations": self.n_evaluations}

    def __call__(self, masks: Any) -> np.ndarray:
        """Return the metric (averaged over prompts) for each mask row, float64 [B].

        Parameters
        ----------
        masks : array-like or PackedMasks
            0/1 or bool ``[B, n]`` (numpy, torch or lists), or :class:`~spex_mech.valuefn.PackedMasks`,
            unpacked one forward pass at a time (``accepts_packed``).

        Returns
        -------
        numpy.ndarray
            Float64 ``[B]``.

        Raises
        ------
        ValueError
            On masks of the wrong width or non-binary entries, or non-finite metric values (naming the rows).
        """
        return self._evaluate(masks, per_prompt=False)

    def per_prompt_values(self, masks: Any) -> np.ndarray:
        """Return the metric of every prompt for each mask row, float64 [B, n_prompts].

        The same forward passes as a call (and counted as evaluations the same way); a call returns the
        mean over the prompts of these values. Faithfulness noise estimates read them
        (:mod:`spex_mech.circuits.noise`).

        Parameters
        ----------
        masks : array-like or PackedMasks
            As for a call.

        Returns
        -------
        numpy.ndarray
            Float64 ``[B, n_prompts]``.

        Raises
        ------
        ValueError
            As for a call.
        """
        return self._evaluate(masks, per_prompt=True)

    def _evaluate(self, masks: Any, per_prompt: bool) -> np.ndarray:
        packed = isinstance(masks, PackedMasks)
        if packed and masks.n != self.n:
            raise ValueError(f"mask width {masks.n} does not match the {self.n} units")
        arr = masks if packed else to_mask_array(masks, self.n)
        total = arr.shape[0]
        out = np.empty((total, self.n_prompts) if per_prompt else total, dtype=np.float64)
        if total == 0:
            return out
        per = max(1, self.rows_per_pass // self.n_prompts)
        # first use with batch_size="auto": a quarter-size pass on the first masks measures the memory a
        # row needs, and sets the rows per pass from then on (rowbudget); its values are kept
        probe = max(1, per // 4) if self._batch_size == "auto" and not self._probed else 0
        if probe and total < probe:
            # a smaller first call is probed whole if it has MIN_PROBE_ROWS rows; fewer rows would let
            # fixed per-pass costs dominate: measure on a later, larger call
            probe = total if total * self.n_prompts >= MIN_PROBE_ROWS else 0
        n_chunks = math.ceil(total / per)
        show = self.progress if self.progress is not None else (None if n_chunks > 8 else False)
        quiet = (show is False) or (show is None and not interactive())
        bar = tqdm(total=total, disable=quiet, desc="masked evals", unit="mask", leave=False)
        idx = torch.arange(self.n_prompts, device=self.device)
        try:
            with torch.inference_mode(), self._eval_mode():
                start = 0
                while start < total:
                    size = probe or per
                    rows = arr[start : start + size]
                    chunk = torch.from_numpy(rows.unpack() if packed else rows).to(self.device)
                    try:
                        with reduced_precision(self.precision, self.device):
                            if probe:
                                self._probed = True
                                logits = self._measure_pass(chunk, idx)
                                probe, per = 0, max(1, self.rows_per_pass // self.n_prompts)
                            else:
                                logits = self._masked_logits(chunk, idx, self.plan["share"], self.plan["slice_hook"])
                        if self.precision != "fp32":
                            logits = logits.float()  # the metric reads float32 logits
                    except torch.cuda.OutOfMemoryError:
                        if size == 1:
                            raise
                        probe, per = 0, max(1, size // 2)  # retry the same masks in smaller passes
                        self._shrink_rows(per * self.n_prompts)
                        continue
                    vals = self.metric(logits)
                    vals = vals.double() if per_prompt else vals.double().mean(dim=1)
                    out[start : start + chunk.shape[0]] = vals.cpu().numpy()
                    bar.update(chunk.shape[0])
                    start += chunk.shape[0]
        finally:
            bar.close()
        if per_prompt:
            check_values(out.mean(axis=1), arr, what="metric")  # names the rows with a non-finite value
        else:
            out = check_values(out, arr, what="metric")
        self.n_evaluations += total
        return out

    def __repr__(self) -> str:
        return (
            f"AblationGame(n={self.n} units, prompts={self.n_prompts}×{self.length}, ablation={self.ablation!r}, "
            f"metric={self.metric.name}, clean={self.clean_value:.4g}"
            + (f", precision={self.precision!r})" if self.precision != "fp32" else ")")
        )
