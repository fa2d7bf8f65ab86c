"""One sweep from a TOML config: resolve, evaluate through the store, decode, write results and report.

The driver behind ``spex-mech run`` (:mod:`spex_mech.cli` parses the command line and calls
:func:`run_sweep`). Every evaluated mask is appended to ``OUT/store/`` as its batch finishes, so an
interrupted sweep loses nothing; ``resume`` answers stored masks from disk and evaluates only the rest.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any, Optional

__all__ = ["run_sweep", "SweepInterrupted"]


def _algorithm(name: str):
    from .registry import get

    return get(name).function


class SweepInterrupted(Exception):
    """Ctrl-C or SIGTERM during a sweep; the message says how many masks are safe and how to resume.

    Parameters
    ----------
    message : str
        What happened, the masks safe in the store and the command that resumes.
    code : int
        The exit status (130 for Ctrl-C, 143 for SIGTERM).
    """

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


class _Terminated(BaseException):
    """Raised by the SIGTERM handler (a BaseException, like KeyboardInterrupt, so nothing swallows it)."""


def _resume_command(config_path: str, out_dir: Path, quiet: bool) -> str:
    import shlex

    args = ["spex-mech", "run", str(config_path), "--out", str(out_dir), "--resume"] + (["--quiet"] if quiet else [])
    return shlex.join(args)


def run_sweep(config_path: str, out: Optional[str] = None, resume: bool = False, quiet: bool = False) -> dict[str, Any]:
    """Run one sweep: resolve the config, evaluate through the store, decode, write results and report.

    The output folder is claimed first (see :mod:`spex_mech.runfolder`: missing, empty or a spex-mech
    run folder; one run at a time); the store's identity (:mod:`spex_mech.identity`) must match the
    current model, prompts, reference, units, metric, ablation and entry code, and ``resume``
    re-evaluates a few stored masks before reusing any.

    Parameters
    ----------
    config_path : str
        The TOML config.
    out : str, optional
        Output folder (default ``runs/<config name>``).
    resume : bool, default False
        Reuse masks already evaluated in ``OUT/store``.
    quiet : bool, default False
        No progress output.

    Returns
    -------
    dict
        The run facts written to ``results.json`` under ``run``.

    Raises
    ------
    ConfigError
        On a problem with the config or its inputs, naming the key.
    StoreError
        If the store belongs to another game or the output folder cannot be claimed.
    SweepInterrupted
        On Ctrl-C or SIGTERM (evaluated masks stay in the store).
    """
    from .config import ConfigError, load_config, resolve
    from .runfolder import RunFolder, RunFolderError
    from .store import DB_NAME, MaskStore, StoreError

    cfg = load_config(config_path)
    out_dir = Path(out) if out else Path("runs") / cfg.path.stem
    store_dir = out_dir / "store"
    try:
        folder = RunFolder(out_dir)
    except RunFolderError as err:
        raise ConfigError(str(err)) from err
    store = None
    try:
        if (store_dir / DB_NAME).exists() and not resume:
            raise ConfigError(
                f"--out {out_dir} already holds evaluated masks: pass --resume to reuse them, or choose another --out"
            )
        started = time.time()
        resolved = resolve(cfg)  # model, units, prompts, metric, budget: all checked before any masked evaluation
        game = _game(cfg, resolved)
        try:
            store = MaskStore(store_dir, len(resolved.units), _identity(cfg, resolved, game))
        except StoreError as err:
            raise ConfigError(f"--resume: {err}" if resume else str(err)) from err
        with contextlib.ExitStack() as cleanup:  # stops a cluster's actors on success, error or Ctrl-C
            return _sweep(cfg, resolved, game, store, out_dir, started, quiet, resume, cleanup)
    except (KeyboardInterrupt, _Terminated) as err:
        code = 143 if isinstance(err, _Terminated) else 130
        safe = len(store) if store is not None else 0
        folder.cleanup_if_unused(store)
        what = "terminated" if code == 143 else "interrupted"
        again = _resume_command(config_path, out_dir, quiet)
        raise SweepInterrupted(
            f"{what}: {safe} evaluated masks are safe in {store_dir}; resume with: {again}", code
        ) from None
    except BaseException:
        folder.cleanup_if_unused(store)
        raise
    finally:
        if store is not None:
            store.close()  # checkpoints the WAL into store.sqlite
        folder.release()


_SECTION_WORDS = (
    ("reference", "[ablation] reference"),
    ("batch_size", "[output] batch_size"),
    ("position", "[metric] position"),
    ("target", "[metric] target"),
    ("metric", "[metric]"),
    ("device", "[model] device"),
    ("prompt", "[prompts]"),
    ("token", "[prompts]"),
)


def _game(cfg, resolved):
    """Build the ablation game (runs the clean prompts and the reference once).

    A problem with the inputs found here is a config error naming the section its message points at.
    """
    from .config import ConfigError, build_game

    try:
        return build_game(cfg, resolved)
    except (ValueError, TypeError, IndexError) as err:
        text = str(err).splitlines()[0] if str(err) else type(err).__name__
        where = next((sec for word, sec in _SECTION_WORDS if word in text.lower()), "[prompts]")
        raise ConfigError(f"{where}: {text} (found while running the clean prompts once)") from err


def _identity(cfg, resolved, game) -> dict[str, Any]:
    from .identity import game_identity, hash_model

    metric = cfg.data.get("metric") or {"default": f"zoo task of '{cfg.get('model', 'zoo')}'"}
    return game_identity(
        model_hash=hash_model(resolved.model, resolved.model_folder),
        unit_ids=game.ids,
        tokens=resolved.tokens,
        reference=resolved.reference,
        metric=metric,
        ablation=resolved.ablation,
        entries=resolved.entries,
        device=resolved.device,
        precision=game.precision,
    )


def _cluster_game(cfg, store, quiet: bool, cleanup: contextlib.ExitStack):
    """Build, with a ``[cluster]`` section, a RayGame from the config on each actor, behind the store.

    Each finished chunk is stored as it arrives. None without a ``[cluster]`` section.
    """
    from .config import ConfigError
    from .distributed import ClusterError, ConfigFactory, RayGame, StoredRayGame, cluster_options

    options = cluster_options(cfg)
    if options is None:
        return None, None
    try:
        game = RayGame(ConfigFactory(cfg.path), progress=not quiet, **options.kwargs())
    except (ClusterError, ValueError) as err:
        raise ConfigError(f"[cluster] {err}") from err
    cleanup.callback(game.close)
    return game, StoredRayGame(game, store)


def _sweep(
    cfg,
    resolved,
    game,
    store,
    out_dir: Path,
    started: float,
    quiet: bool,
    resume: bool = False,
    cleanup: Optional[contextlib.ExitStack] = None,
) -> dict[str, Any]:
    """Evaluate, fit, and write the run folder (``run_sweep`` after its checks)."""
    from .circuit import extract_circuit
    from .config import ConfigError
    from .report import summary_table, write_figures, write_report
    from .results.interactions import jsonable
    from .games import StoredValueFunction
    from .valuefn import uniform_masks

    n = len(resolved.units)
    log = (lambda *a: None) if quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
    log(f"spex-mech: {n} units, algorithm {resolved.algorithm}, planned evaluations ≈ {resolved.planned_evaluations}")
    stored_before = len(store)
    f = StoredValueFunction(game, store, flush_every=cfg.get("output", "flush_every", 256), progress=not quiet)
    f.ids = game.ids
    spot_checked = f.spot_check(n_random=4, seed=0) if resume and stored_before else 0  # on the driver's own replica
    cluster_game, stored_cluster = _cluster_game(cfg, store, quiet, cleanup) if cleanup is not None else (None, None)
    if cluster_game is not None:  # the algorithm's values come from the Ray actors, each chunk stored as it arrives;
        f = stored_cluster  # `game` (the driver's replica) still serves metadata and attribution patching
        f.ids = game.ids
    t0 = time.time()
    try:
        result = _algorithm(resolved.algorithm)(f, **resolved.algorithm_kwargs)
    except (ValueError, TypeError) as err:
        if f.n_calls == 0:  # refused its arguments before asking for a single value: a config problem
            raise ConfigError(f"[algorithm] {resolved.algorithm}: {err}") from err
        raise
    t_algo = time.time() - t0
    log(f"spex-mech: {resolved.algorithm} done in {t_algo:.1f} s ({len(result)} Fourier coefficients)")
    samples = cfg.get("output", "faithfulness_samples", 1000)
    faith = None
    t1 = time.time()
    if samples:
        masks = uniform_masks(n, samples, seed=10_000 + int(resolved.algorithm_kwargs.get("seed", 0)))
        faith = result.faithfulness(f, masks=masks)
    t_faith = time.time() - t1
    t1 = time.time()
    try:
        circuit = extract_circuit(result, cfg.get("output", "circuit_fraction", 0.9), f=f)
        no_circuit = ""
    except ValueError as err:  # e.g. the surrogate predicts no effect (nothing sparse was found): say so
        circuit, no_circuit = None, f"no surrogate circuit: {err}"
    curves, minimal, no_minimal, roles = _circuit_views(
        result, f, game, resolved, cfg.get("output", "circuit_fraction", 0.9)
    )
    stability = None
    if cfg.get("output", "seed_stability", False):
        from .circuits import top_k_overlap

        seed0 = int(resolved.algorithm_kwargs.get("seed", 0))
        seeds = [seed0, seed0 + 1, seed0 + 2]
        rerun = _algorithm(resolved.algorithm)
        reruns = [result] + [rerun(f, **{**resolved.algorithm_kwargs, "seed": s}) for s in seeds[1:]]
        stability = top_k_overlap(reruns, seeds, k=10)
    t_circuits = time.time() - t1
    log(f"spex-mech: faithfulness {t_faith:.1f} s, circuits and curves {t_circuits:.1f} s")
    run = {
        "config": str(cfg.path),
        "algorithm": resolved.algorithm,
        "algorithm_kwargs": resolved.algorithm_kwargs,
        "units": n,
        "unit_ids": game.ids,
        "prompts": int(game.n_prompts),
        "ablation": resolved.ablation,
        "clean_value": game.clean_value,
        "plan": {k: v for k, v in game.plan.items()},
        "precision": game.precision,
        "row_budget": {**vars(game.row_budget)},
        "algorithm_evaluations": result.n_evaluations,
        "fresh_evaluations": f.n_evaluations,
        "reused_from_store": f.n_reused,
        "stored_before": stored_before,
        "spot_checked_on_resume": spot_checked,
        "identity": store.identity,
        "faithfulness_r2": faith,
        "circuit": {"error": no_circuit} if circuit is None else {
            "units": list(circuit.labels), "predicted_fraction": circuit.predicted_fraction, **circuit.measured},
        "minimal_circuit": {"error": no_minimal} if minimal is None else {
            "units": list(minimal.labels), "keep": minimal.keep, "ablate": minimal.ablate, "found": minimal.found,
            "n_evaluations": minimal.n_evaluations, "warnings": list(minimal.warnings)},
        "seed_stability": None if stability is None else {
            "k": stability.k, "seeds": stability.seeds, "pairs": stability.pairs, "mean": stability.mean},
        "curves": {
            k: {"cpr": c.cpr, "cmd": c.cmd, "ablate_area": c.ablate_area, "sizes": c.sizes, "keep": c.keep,
                "ablate": c.ablate}
            for k, c in curves.items()
        },
        "seconds": {
            "algorithm_incl_model": round(t_algo, 3),
            "faithfulness": round(t_faith, 3),
            "circuits_curves_stability": round(t_circuits, 3),
            "total": round(time.time() - started, 3),
        },
    }
    if cluster_game is not None:
        run["cluster"] = cluster_game.describe()
    t1 = time.time()
    out_dir.mkdir(parents=True, exist_ok=True)
    document = {"run": run, "config": cfg.data, "interactions": result.to_dict()}
    (out_dir / "results.json").write_text(json.dumps(jsonable(document), indent=2))
    store.export_npz(out_dir / "evaluations.npz")
    table = summary_table(result, k=cfg.get("output", "top", 10))
    summary = "\n".join(
        [
            table,
            "",
            no_circuit or circuit.summary(),
            no_minimal or minimal.summary(),
            "measured faithfulness (keep only the top-k units) at k = "
            + " ".join(str(k) for k in next(iter(curves.values())).sizes),
            *(
                f"  {k}: " + " ".join(f"{v:.2f}" for v in c.keep) + f"  → CPR {c.cpr:.3f}, CMD {c.cmd:.3f}"
                for k, c in curves.items()
            ),
            *(f"  warning: {w}" for w in sorted({w for c in curves.values() for w in c.warnings})),
            f"held-out faithfulness R² ({samples} uniform masks): {faith:.4f}" if faith is not None else "",
            f"evaluations: {result.n_evaluations} by the algorithm; {f.n_evaluations} fresh, "
            f"{f.n_reused} answered from the store",
        ]
    )
    (out_dir / "summary.txt").write_text(summary + "\n")
    ctx = {"metric": game.metric.name, "ablation": resolved.ablation}
    formats = tuple(cfg.get("output", "figures", ["png"]))
    figures = write_figures(result, out_dir, formats, circuit=minimal, curves=curves, roles=roles, **ctx)
    report = write_report(
        out_dir,
        result,
        title=cfg.get("output", "title", f"spex-mech sweep: {cfg.path.stem}"),
        circuit=circuit,
        run_info=run,
        faithfulness=faith,
        figures=figures,
        curves=curves,
        minimal=minimal,
        roles=roles,
        stability=stability,
        **ctx,
    )
    log(f"spex-mech: outputs (results.json, evaluations.npz, summary, figures, report) {time.time() - t1:.1f} s")
    if not quiet:
        print(summary)
        print(f"\nwrote {out_dir}/results.json, evaluations.npz, summary.txt, {report.name}")
    return run


def _circuit_views(result, f, game, resolved, target: float):
    """Compute faithfulness curves, the minimal faithful circuit and head roles.

    The curves are measured for the result's Möbius share and Shapley rankings and attribution patching; the
    minimal circuit is None, with the reason, when there is no effect to explain; head roles are None when
    the units are not heads.
    """
    from .algorithms.baselines.attribution import attribution_patching
    from .circuits import faithfulness_curves, head_roles, minimal_circuit, ranking, unit_scores

    rankings = {
        f"{resolved.algorithm} Möbius share": ranking(unit_scores(result, "mobius")),
        "Shapley": ranking(unit_scores(result, "shapley")),
    }
    try:
        rankings["attribution patching"] = ranking(unit_scores(attribution_patching(game), "attribution"))
    except (ValueError, TypeError):  # token or data units: no gradient
        pass
    curves = faithfulness_curves(f, rankings, warn=False)
    try:
        minimal, no_minimal = minimal_circuit(result, f, target, warn=False), ""
    except ValueError as err:  # f(all kept) = f(all ablated): nothing for a circuit to explain
        minimal, no_minimal = None, f"no minimal circuit: {err}"
    roles = None
    if any(lab.startswith("L") and "H" in lab for lab in result.labels):
        try:
            roles = head_roles(resolved.model)
        except (ValueError, TypeError, AttributeError):
            roles = None
    return curves, minimal, no_minimal, roles


def _raise_terminated(signum, frame):
    raise _Terminated()
