"""The ``spex-mech`` command line: scripted ablation sweeps from a TOML config.

    spex-mech run configs/induction.toml --out runs/induction      # evaluate, decode, report
    spex-mech run configs/induction.toml --out runs/induction --resume   # continue after a crash
    spex-mech check configs/induction.toml                         # validate; loads the model, runs the clean prompts once
    spex-mech zoo                                                  # list the zoo models

Every evaluated mask is appended to ``OUT/store/`` as its batch finishes, so an interrupted sweep
loses nothing; ``--resume`` answers stored masks from disk and evaluates only the rest.
Outputs: ``results.json`` (the interactions and run facts), ``evaluations.npz`` (every evaluated mask
and value), ``summary.txt``, figures and ``report.html``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Optional, Sequence


__all__ = ["main", "run_sweep", "SweepInterrupted"]


def _algorithm(name: str):
    from .registry import get

    return get(name).function


class SweepInterrupted(Exception):
    """Ctrl-C or SIGTERM during a sweep: ``code`` is the exit status (130 / 143), the message says how
    many masks are safe and how to resume."""

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
    """Run one sweep; returns the run facts written to ``results.json``.

    The output folder is claimed first (see :mod:`spex_mech.runfolder`: missing, empty or a spex-mech
    run folder; one run at a time); the store's identity (:mod:`spex_mech.identity`) must match the
    current model, prompts, reference, units, metric, ablation and entry code, and ``--resume``
    re-evaluates a few stored masks before reusing any."""
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
            raise ConfigError(f"--out {out_dir} already holds evaluated masks: pass --resume to reuse them, or choose another --out")
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
        raise SweepInterrupted(
            f"{what}: {safe} evaluated masks are safe in {store_dir}; resume with: {_resume_command(config_path, out_dir, quiet)}", code
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
    """Build the ablation game (runs the clean prompts and the reference once). A problem with the
    inputs found here is a config error naming the section its message points at."""
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
    """With a ``[cluster]`` section: a RayGame built from the config on each actor, behind the store
    (each finished chunk is stored as it arrives). None without one."""
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
    curves, minimal, no_minimal, roles = _circuit_views(result, f, game, resolved, cfg.get("output", "circuit_fraction", 0.9))
    stability = None
    if cfg.get("output", "seed_stability", False):
        from .circuits import top_k_overlap

        seed0 = int(resolved.algorithm_kwargs.get("seed", 0))
        seeds = [seed0, seed0 + 1, seed0 + 2]
        reruns = [result] + [_algorithm(resolved.algorithm)(f, **{**resolved.algorithm_kwargs, "seed": s}) for s in seeds[1:]]
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
        "circuit": {"error": no_circuit} if circuit is None else {"units": list(circuit.labels), "predicted_fraction": circuit.predicted_fraction, **circuit.measured},
        "minimal_circuit": {"error": no_minimal} if minimal is None else {
            "units": list(minimal.labels), "keep": minimal.keep, "ablate": minimal.ablate, "found": minimal.found,
            "n_evaluations": minimal.n_evaluations, "warnings": list(minimal.warnings)},
        "seed_stability": None if stability is None else {"k": stability.k, "seeds": stability.seeds, "pairs": stability.pairs, "mean": stability.mean},
        "curves": {k: {"cpr": c.cpr, "cmd": c.cmd, "ablate_area": c.ablate_area, "sizes": c.sizes, "keep": c.keep, "ablate": c.ablate} for k, c in curves.items()},
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
    (out_dir / "results.json").write_text(json.dumps(jsonable({"run": run, "config": cfg.data, "interactions": result.to_dict()}), indent=2))
    store.export_npz(out_dir / "evaluations.npz")
    table = summary_table(result, k=cfg.get("output", "top", 10))
    summary = "\n".join(
        [
            table,
            "",
            no_circuit or circuit.summary(),
            no_minimal or minimal.summary(),
            "measured faithfulness (keep only the top-k units) at k = " + " ".join(str(k) for k in next(iter(curves.values())).sizes),
            *(f"  {k}: " + " ".join(f"{v:.2f}" for v in c.keep) + f"  → CPR {c.cpr:.3f}, CMD {c.cmd:.3f}" for k, c in curves.items()),
            *(f"  warning: {w}" for w in sorted({w for c in curves.values() for w in c.warnings})),
            f"held-out faithfulness R² ({samples} uniform masks): {faith:.4f}" if faith is not None else "",
            f"evaluations: {result.n_evaluations} by the algorithm; {f.n_evaluations} fresh, {f.n_reused} answered from the store",
        ]
    )
    (out_dir / "summary.txt").write_text(summary + "\n")
    ctx = {"metric": game.metric.name, "ablation": resolved.ablation}
    figures = write_figures(result, out_dir, tuple(cfg.get("output", "figures", ["png"])), circuit=minimal, curves=curves, roles=roles, **ctx)
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
    """Measured faithfulness curves (the result's Möbius share and Shapley rankings, attribution patching),
    the minimal faithful circuit (None, with the reason, when there is no effect to explain), and head
    roles (None when the units are not heads)."""
    from .algorithms.baselines.attribution import attribution_patching
    from .circuits import faithfulness_curves, head_roles, minimal_circuit, ranking, unit_scores

    rankings = {f"{resolved.algorithm} Möbius share": ranking(unit_scores(result, "mobius")), "Shapley": ranking(unit_scores(result, "shapley"))}
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


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="spex-mech", description="Sparse interaction sweeps over TransformerLens hook points.")
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="run a sweep from a TOML config")
    run_p.add_argument("config")
    run_p.add_argument("--out", help="output folder (default runs/<config name>)")
    run_p.add_argument("--resume", action="store_true", help="reuse masks already evaluated in OUT/store")
    run_p.add_argument("--quiet", action="store_true")
    check_p = sub.add_parser(
        "check",
        help="validate a config: loads the model (configs are code: entry functions run) and runs the clean prompts once; no masked evaluation",
    )
    check_p.add_argument("config")
    sub.add_parser("zoo", help="list the zoo models")
    args = parser.parse_args(argv)

    from .config import ConfigError
    from .store import StoreError

    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread: leave signals alone
        previous = None
    warnings.filterwarnings("ignore", category=UserWarning, module="transformer_lens")
    try:
        if args.command == "run":
            run_sweep(args.config, args.out, args.resume, args.quiet)
        elif args.command == "check":
            from .config import load_config, resolve

            saved_path = list(sys.path)
            try:
                print(
                    "spex-mech check: loads the model and runs the clean prompts once (a config's entry functions are "
                    "code and run here); no masked evaluation",
                    file=sys.stderr,
                )
                cfg = load_config(args.config)
                resolved = resolve(cfg)
                _game(cfg, resolved)
            finally:
                sys.path[:] = saved_path
            print(f"ok: {len(resolved.units)} units, {resolved.algorithm}, planned evaluations {resolved.planned_evaluations}")
        else:
            from .zoo import ZOO

            print("\n".join(ZOO))
    except ConfigError as err:
        print(f"spex-mech: config error: {err}", file=sys.stderr)
        return 2
    except StoreError as err:
        print(f"spex-mech: store error: {err}", file=sys.stderr)
        return 2
    except SweepInterrupted as err:
        print(f"spex-mech: {err}", file=sys.stderr)
        return err.code
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def _raise_terminated(signum, frame):
    raise _Terminated()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
