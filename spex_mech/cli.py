"""The ``spex-mech`` command line: scripted ablation sweeps from a TOML config.

    spex-mech run configs/induction.toml --out runs/induction      # evaluate, decode, report
    spex-mech run configs/induction.toml --out runs/induction --resume   # continue after a crash
    spex-mech check configs/induction.toml                         # validate; loads the model, runs the
                                                                   # clean prompts once
    spex-mech zoo                                                  # list the zoo models

Every evaluated mask is appended to ``OUT/store/`` as its batch finishes, so an interrupted sweep
loses nothing; ``--resume`` answers stored masks from disk and evaluates only the rest.
Outputs: ``results.json`` (the interactions and run facts), ``evaluations.npz`` (every evaluated mask
and value), ``summary.txt``, figures and ``report.html``.
"""


from __future__ import annotations

import argparse
import signal
import sys
import warnings
from typing import Optional, Sequence

from .sweep import SweepInterrupted, _game, _raise_terminated, run_sweep

__all__ = ["main", "run_sweep", "SweepInterrupted"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``spex-mech`` command line (``run``, ``check`` or ``zoo``).

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 on success, 2 on a config or store error, 130 / 143 when interrupted.
    """
    parser = argparse.ArgumentParser(
        prog="spex-mech", description="Sparse interaction sweeps over TransformerLens hook points."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="run a sweep from a TOML config")
    run_p.add_argument("config")
    run_p.add_argument("--out", help="output folder (default runs/<config name>)")
    run_p.add_argument("--resume", action="store_true", help="reuse masks already evaluated in OUT/store")
    run_p.add_argument("--quiet", action="store_true")
    check_p = sub.add_parser(
        "check",
        help=(
            "validate a config: loads the model (configs are code: entry functions run) and runs the clean "
            "prompts once; no masked evaluation"
        ),
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
            print(
                f"ok: {len(resolved.units)} units, {resolved.algorithm}, planned evaluations "
                f"{resolved.planned_evaluations}"
            )
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
